export { selfCheck } from './self-check';
export {
  rotateCredential,
  statusQuery,
  abort,
  approve,
  endOverlapNow,
  extendOverlap,
  retryRollback,
  resolve,
} from './rotate-credential';
export { rotateAll, rotateAllProgress } from './rotate-all';
export { healthCheck } from './health-check';
