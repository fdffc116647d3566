export { selfCheck } from './self-check';
export { rotateCredential, statusQuery, approve, endOverlapNow, extendOverlap } from './rotate-credential';
