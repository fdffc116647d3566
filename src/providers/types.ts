/**
 * The seams between the rotation and the systems it touches (see docs/design.md, "Seams"). Everything that
 * crosses them is plain and serialisable, and carries no secret value except the minted value `issue`
 * returns and the value handed to `write` and `restore`.
 */

/** `create-then-revoke`: a new credential beside the old one. `rotate-in-place`: the old one dies at once. */
export type IssueStrategy = 'create-then-revoke' | 'rotate-in-place';

/**
 * A credential's id at its provider, opaque to everything but its source: GitLab's numeric token id as a
 * string, an OAuth2 grant's generation (1 for the seeded refresh token, then one more per grant).
 */
export type TokenId = string;

/** Which credential, at the provider: its id there. */
export interface CredentialRef {
  tokenId: TokenId;
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
  /** Absent when the provider does not say (an OAuth2 answer without `expires_in`). */
  expiresAt?: string;
  /** The credential the provider revoked while issuing this one (rotate-in-place). */
  revokedTokenId?: TokenId;
  /** More secret fields stored beside the value, such as an OAuth2 refresh token and access token. */
  fields?: Record<string, string>;
}

/** The current secret's fields, for a source whose state lives in the store (an OAuth2 refresh token). */
export type HeldSecret = Readonly<Record<string, string>>;

export interface IssueContext {
  /** The current secret, given to sources that declare `keepsStateInStore`. */
  held?: HeldSecret;
  /** A previous attempt of this issue may have reached the provider, and its answer never came. */
  afterLostAnswer?: boolean;
  /**
   * Stages secrets the provider has issued, for a source whose call spends the credential it replaces (an
   * OAuth2 grant), before it checks the rest of the answer: a value already issued is never dropped. What
   * was kept comes back in `held` on the next issue for the same credential, should this one fail.
   */
  keep?: (fields: Record<string, string>) => Promise<void>;
}

export interface CredentialSource<Spec> {
  /**
   * The credential is consumed by issuing its successor and its state lives in its secret in the store (OAuth2
   * refresh tokens): the activities hand the current secret to `inspect` and `issue`, and record in the store
   * that a grant is under way before `issue` runs, so that a lost answer is recognised afterwards.
   */
  readonly keepsStateInStore?: true;
  inspect(spec: Spec, ref: CredentialRef, held?: HeldSecret): Promise<CredentialState>;
  /**
   * Mints once: never retried here, because a repeated mint can revoke a whole token family. `strategy`
   * overrides the spec's, for recovery after a lost answer.
   */
  issue(
    spec: Spec,
    current: CredentialRef | undefined,
    strategy?: IssueStrategy,
    context?: IssueContext,
  ): Promise<IssuedCredential>;
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

/** The current Vault version, as the health check expects every target to hold it. */
export interface ExpectedValue {
  value: string;
  /**
   * When the value came to exist (its token's creation at the provider): a target whose value cannot be
   * read must have been written at or after this to hold it. Unknown when the provider could not say.
   */
  since?: string;
}

/** Whether a target holds the current value; `detail` says why in the operator's words, never with a value. */
export interface TargetCheck {
  /** `unverifiable`: the target cannot tell (a hidden GitLab variable returns no value). */
  state: 'current' | 'drifted' | 'unverifiable';
  detail: string;
}

export interface CredentialTarget<Spec> {
  /**
   * Why the target would refuse `value`, in words without it, or undefined when it would take it: asked
   * before any target is written, so that a value one target cannot hold is found before the first write.
   */
  refuses?(spec: Spec, value: string): string | undefined;
  snapshot(spec: Spec): Promise<TargetSnapshot>;
  /** Whether the target holds `expected` now: by value where the provider returns it, else by write time. */
  holds(spec: Spec, expected: ExpectedValue): Promise<TargetCheck>;
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

/** A CI job or workflow run that may still hold the credential's old value. */
export interface RunningJob {
  /** The provider's id for it, as a string. */
  id: string;
  /** How operators know it: `pipeline 12 job deploy`, `workflow run 7 (CI)`. */
  name: string;
  url?: string;
  startedAt: string;
}

/**
 * Where jobs that read the credential run (a GitLab project, a GitHub repository): the job-aware overlap
 * waits until those that started before the targets switched have ended.
 */
export interface Consumer<Spec> {
  /** The jobs running now that started before `switchedAt` (ISO 8601). */
  stillRunning(spec: Spec, switchedAt: string): Promise<RunningJob[]>;
}

/** One run of a canary: a pipeline or workflow run started to prove the new value where it is consumed. */
export interface CanaryRun {
  /** The provider's id for it, as a string. */
  id: string;
  /** How operators know it: `project platform/web pipeline 12`. */
  name: string;
  url?: string;
}

/** Where a canary run stands: `running` until the provider reports an end; `conclusion` in the provider's words. */
export interface CanaryState {
  state: 'running' | 'passed' | 'failed';
  conclusion: string;
}

/**
 * A pipeline that uses the credential as its consumers do (a GitLab pipeline, a GitHub workflow dispatch):
 * run after the targets hold the new value and before it is promoted, so that a value the API accepts but the
 * pipeline cannot use is rolled back while the old one is still valid everywhere.
 */
export interface Canary<Spec> {
  /** Starts one run; retried after a lost answer, a second run is one more proof, never a second credential. */
  start(spec: Spec): Promise<CanaryRun>;
  state(spec: Spec, run: CanaryRun): Promise<CanaryState>;
  /** Stops a run no longer waited for; one that has ended already counts as stopped. */
  cancel(spec: Spec, run: CanaryRun): Promise<void>;
}
