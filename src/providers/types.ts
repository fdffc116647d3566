/**
 * The seams between the rotation and the systems it touches (see DESIGN.md, "Seams"). Everything that
 * crosses them is plain and serialisable, and carries no secret value except the minted value `issue`
 * returns and the value handed to `write` and `restore`.
 */

/** `create-then-revoke`: a new credential beside the old one. `rotate-in-place`: the old one dies at once. */
export type IssueStrategy = 'create-then-revoke' | 'rotate-in-place';

/** Which credential, at the provider: its id there. */
export interface CredentialRef {
  tokenId: number;
}

/** What the provider says about a credential, without its value. */
export interface CredentialState extends CredentialRef {
  name: string;
  scopes: string[];
  active: boolean;
  revoked: boolean;
  createdAt: string;
  /** `YYYY-MM-DD`, or null when it never expires. */
  expiresAt: string | null;
  lastUsedAt: string | null;
}

export interface IssuedCredential extends CredentialRef {
  /** The new secret: the issuing activity stores it in Vault before anything else sees it. */
  value: string;
  expiresAt: string;
  /** The credential the provider revoked while issuing this one (rotate-in-place). */
  revokedTokenId?: number;
}

export interface CredentialSource<Spec> {
  inspect(spec: Spec, ref: CredentialRef): Promise<CredentialState>;
  /**
   * Mints once: never retried here, because a repeated mint can revoke a whole token family. `strategy`
   * overrides the spec's, for recovery after a lost answer.
   */
  issue(spec: Spec, current: CredentialRef | undefined, strategy?: IssueStrategy): Promise<IssuedCredential>;
  /** Proves the value works and matches the spec; throws when it does not. */
  verify(spec: Spec, value: string, ref: CredentialRef & { expiresAt: string }): Promise<void>;
  /** Idempotent: a credential already revoked or gone counts as revoked. */
  revoke(spec: Spec, ref: CredentialRef): Promise<void>;
  /**
   * Active credentials of this spec created at or after `since` that the caller does not know of: what a
   * mint whose answer was lost left behind.
   */
  findOrphans(spec: Spec, since: string, known: CredentialRef[]): Promise<CredentialState[]>;
}

/** A target's prior state, without its value (which may be unreadable; rollback takes it from Vault). */
export type TargetSnapshot =
  | { exists: false }
  | {
      exists: true;
      attributes: Record<string, string | boolean | null>;
    };

export interface CredentialTarget<Spec> {
  snapshot(spec: Spec): Promise<TargetSnapshot>;
  write(spec: Spec, value: string): Promise<void>;
  /** Puts back exactly what `snapshot` saw; `previousValue` is required when it existed. */
  restore(spec: Spec, snapshot: TargetSnapshot, previousValue: string | undefined): Promise<void>;
}

/** What `pause` changed, so that `resume` undoes that and nothing else. */
export interface PauseRecord {
  paused: number[];
}

export interface Dependent<Spec> {
  pause(spec: Spec): Promise<PauseRecord>;
  resume(spec: Spec, record: PauseRecord): Promise<void>;
}
