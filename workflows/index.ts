export { selfCheck } from './self-check';
export { rotateCredential, statusQuery, endOverlapNow, extendOverlap } from './rotate-credential';
