export { selfCheck } from './self-check';
export { rotateCredential } from './rotate-credential';
export { statusQuery } from './status';
export { abort, approve, endOverlapNow, extendOverlap, retryRollback, resolve } from './operator';
export { rotateAll, rotateAllProgress } from './rotate-all';
export { healthCheck } from './health-check';
export { breakGlass } from './break-glass';
