/*
 * Four-eyes approval: an approver signs a statement naming one rotation with the ed25519 SSH key the inventory
 * lists for them, and the worker checks it (docs/security.md, "Four-eyes approval").
 */
export { approvalSchema, type Approval, type RotationFacts } from './statement';
export { agentSigner, keyFileSigner, signApproval, type ApprovalSigner } from './sign';
export { verifyApproval, type RefusalReason, type Verdict } from './verify';
export { parsePublicKey, SshKeyError } from './ssh';
