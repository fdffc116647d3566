export { selfCheck } from './self-check';
export {
  rotateCredential,
  statusQuery,
  approve,
  endOverlapNow,
  extendOverlap,
  retryRollback,
  resolve,
} from './rotate-credential';
