import type { z } from 'zod';

/** A secret's fields; values are strings so nothing is lost on the way to CI variables. */
export type SecretData = Record<string, string>;

/**
 * What the rotation needs of a credential's system of record, whatever the store: the current version and
 * its value, a staged version apart from it, promote with a check that nobody changed the current version,
 * the undo of promote, and when a version was written. `Ref` names where one credential lives (a Vault KV
 * path, a Secrets Manager secret); `Version` names one version of it, self-contained, as workflows carry
 * it. Both are plain JSON and hold no value. A staged version is what `stage` wrote last.
 */
export interface CredentialStore<Ref, Version> {
  /** Throws, naming what is wrong, unless the store can keep this credential's versions: checked before a mint. */
  assertUsable(at: Ref): Promise<void>;
  /** The current version and its fields. */
  readCurrent(at: Ref): Promise<{ data: SecretData; version: Version }>;
  /** One version's fields. */
  read(version: Version): Promise<SecretData>;
  /**
   * What is staged now: `mark` is what the next `stage` must be told it replaces, and `found` the staged
   * version with its fields, if there is one.
   */
  readStaged(at: Ref): Promise<{ mark: StageMark; found?: { data: SecretData; version: Version } }>;
  /**
   * Writes a staged version, only if what is staged is still `after` (a StoreError `conflict` otherwise).
   * `requestKey` is unique to this write and the same when it is tried again: a store that deduplicates
   * by request (Secrets Manager's ClientRequestToken) makes a retried write after a lost answer a no-op.
   */
  stage(
    at: Ref,
    data: SecretData,
    after: StageMark,
    requestKey: string,
  ): Promise<{ version: Version; mark: StageMark }>;
  /**
   * Makes `staged` the current version, only if the current version is still `replacing` (a StoreError
   * `conflict` names who changed it otherwise); fields of `replacing` the rotation does not own are kept.
   * A retry after a lost answer finds its own promote in place and returns it.
   */
  promote(at: Ref, staged: Version, replacing: Version): Promise<Version>;
  /**
   * The undo of promote: makes `previous` current again, only while the current version is the one whose
   * `tokenId` field is `promotedTokenId`; returns the version that is current afterwards.
   */
  rePromote(at: Ref, previous: Version, promotedTokenId: string): Promise<Version>;
  /**
   * The version before `current` and its fields, if the store still has it: the one `current` replaced
   * (Vault's version before it, Secrets Manager's `AWSPREVIOUS`).
   */
  readPrevious(current: Version): Promise<{ data: SecretData; version: Version } | undefined>;
  /**
   * Writes a new current version, `current`'s fields with `fields` over them, only while `current` is still
   * the current version (a StoreError `conflict` otherwise): for fields beside the value, never the value.
   */
  amend(current: Version, fields: SecretData): Promise<Version>;
  /** When a version was written, from metadata: no value is read for it. */
  writtenAt(version: Version): Promise<string>;
  /**
   * For a store that replicates a secret to the places its reference lists: what is wrong with each
   * (missing, not in sync), naming it; empty when all are in sync. From metadata: no value is read.
   */
  replicationProblems?(at: Ref): Promise<string[]>;
}

/** What a staged write is checked against: a store's own notion of "what is staged now" (0 or "": nothing). */
export type StageMark = number | string;

/** Why a store call failed, in store-neutral terms the activities and the failure classes act on. */
export type StoreFailure =
  /** The store could not be reached, is sealed, throttles or fails: trying again later can succeed. */
  | 'unavailable'
  /** The secret or version does not exist. */
  | 'not-found'
  /** A check-and-set lost: someone else wrote in between. */
  | 'conflict'
  /** The store refused the worker's identity or its permissions: its credentials or policy must be fixed. */
  | 'denied'
  /** Anything else the store refused: a malformed request, a secret marked for deletion. */
  | 'refused';

/** A failed store call. The message names the store, operation and secret, and the store's reason, never a value. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';

  constructor(
    message: string,
    readonly failure: StoreFailure,
    /** The store's HTTP status, when it answered. */
    readonly status?: number,
    /** The store's kind, as failures name the system that failed. */
    readonly system = 'store',
  ) {
    super(message);
  }

  get retryable(): boolean {
    return this.failure === 'unavailable';
  }
}

export const isStoreFailure = (error: unknown, failure: StoreFailure): error is StoreError =>
  error instanceof StoreError && error.failure === failure;

/**
 * One kind of store, defined once: the inventory's entry for a credential kept there, the reference and
 * version schemas workflows carry (each with a `store` field naming the kind; Vault's may omit it), and how
 * it is opened from the worker's environment.
 */
export interface StoreDefinition<Kind extends string, Entry extends z.ZodType, Ref, Version, Settings> {
  kind: Kind;
  /** The inventory's `store:` entry for this kind. */
  entry: Entry;
  /** Where a credential described by `entry` lives. */
  refOf(entry: z.output<Entry>): Ref;
  /** The secret as operators name it in messages and plans: "Vault kv/ci/deployer". */
  describe(at: Ref): string;
  ref: z.ZodType<Ref, Ref>;
  version: z.ZodType<Version, Version>;
  /** Whether a reference or version names a secret of this store. */
  owns(refOrVersion: object): boolean;
  open(settings: Settings): CredentialStore<Ref, Version>;
}

export function defineStore<Kind extends string, Entry extends z.ZodType, Ref, Version, Settings>(
  definition: StoreDefinition<Kind, Entry, Ref, Version, Settings>,
) {
  return definition;
}

/** The longest pause between two tries at an unavailable store. */
const MAX_PAUSE_MS = 8_000;

/**
 * Calls `call` until the store answers: an unavailable store is tried again (1, 2, 4, 8, 8, ... s apart) for
 * up to `patienceMs`; any other failure, or the last one, goes on to the caller. For writes whose loss costs
 * more than a wait: a minted value only this process holds, the audit log's anchor.
 */
export async function untilStoreAnswers<T>(call: () => Promise<T>, patienceMs: number): Promise<T> {
  const deadline = Date.now() + patienceMs;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      const pause = Math.min(1000 * 2 ** (attempt - 1), MAX_PAUSE_MS);
      if (!(error instanceof StoreError && error.retryable) || Date.now() + pause > deadline) throw error;
      await new Promise((wake) => setTimeout(wake, pause));
    }
  }
}
