import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, appendFile, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { parseOrThrow } from './validation';

/** The lifecycle events of a rotation, in the operator's words. */
const AUDIT_EVENTS = [
  'started',
  'skipped',
  'approved',
  'paused',
  'issued',
  'verified',
  'distributed',
  'promoted',
  'resumed',
  'revoked',
  'recovered',
  'rolled back',
  'failed',
] as const;

/** The `prevHash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

const count = z.number().int().min(0);
const hashSchema = z.string().regex(/^[0-9a-f]{64}$/, 'expected a SHA-256 hash in hex');

/** One event as a step reports it: names, ids and versions only, never a value (unknown keys are refused). */
export const auditEventSchema = z
  .object({
    credentialId: z.string().min(1),
    workflowId: z.string().min(1).optional(),
    runId: z.string().min(1).optional(),
    event: z.enum(AUDIT_EVENTS),
    /** The rotation's step, as its timeline names it (`revoke old`, `rollback`, ...). */
    step: z.string().min(1),
    /** Who asked for the rotation, or who approved it. */
    actor: z.string().min(1),
    reason: z.string().min(1).optional(),
    outcome: z.enum([
      'ok',
      'not-due',
      'dry-run',
      'cancelled',
      'rolled-back',
      'failed',
      'compromised',
      'compromised-or-lost',
    ]),
    detail: z.string().optional(),
    vault: z
      .object({ current: count.optional(), previous: count.optional(), staged: count.optional() })
      .strict()
      .optional(),
    /** The target, dependent or source the step acted on, by the name operators know it by. */
    resource: z.string().min(1).optional(),
    /** The token the event is about (the new one for `issued` and `verified`, the revoked one for `revoked`). */
    tokenId: count.optional(),
    /** For `issued`: the token the new one replaces. */
    replacesTokenId: count.optional(),
  })
  .strict();
export type AuditEvent = z.infer<typeof auditEventSchema>;

const auditEntrySchema = auditEventSchema
  .extend({ seq: z.number().int().positive(), at: z.iso.datetime(), prevHash: hashSchema, hash: hashSchema })
  .strict();
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** Where audit entries go; a file by default, more sinks can follow. */
export interface AuditSink {
  append(event: AuditEvent): Promise<AuditEntry>;
  /** Resolves when an append could be written now; a step checks it before changing what it cannot undo. */
  ready(): Promise<void>;
}

/** A broken chain or a file that cannot hold more entries: the message names the file and line, never a value. */
export class AuditLogError extends Error {
  override readonly name = 'AuditLogError';
}

/** JSON with every object's keys sorted, so the same entry always hashes the same. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, node: unknown) =>
    typeof node === 'object' && node !== null && !Array.isArray(node)
      ? Object.fromEntries(Object.entries(node).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : node,
  );
}

function hashOf(entry: Omit<AuditEntry, 'hash'>): string {
  return createHash('sha256').update(canonicalJson(entry)).digest('hex');
}

export type AuditVerification =
  { ok: true; entries: number; lastHash: string } | { ok: false; line: number; problem: string };

/** Checks every line's shape, sequence number, link to the previous line and hash. */
export function verifyAuditText(text: string): AuditVerification {
  if (text === '') return { ok: true, entries: 0, lastHash: GENESIS_HASH };
  const lines = text.split('\n');
  // A complete log ends with a newline, which leaves one empty string after the split.
  if (lines.pop() !== '')
    return { ok: false, line: lines.length + 1, problem: 'truncated: no newline at the end' };
  let prevHash = GENESIS_HASH;
  for (const [index, line] of lines.entries()) {
    const broken = (problem: string) => ({ ok: false as const, line: index + 1, problem });
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return broken('not a JSON entry');
    }
    const parsed = auditEntrySchema.safeParse(json);
    if (!parsed.success) return broken(`not an audit entry: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const { hash, ...body } = parsed.data;
    if (body.seq !== index + 1)
      return broken(`seq is ${body.seq}, expected ${index + 1}: a line was removed or moved`);
    if (body.prevHash !== prevHash)
      return broken('prevHash is not the previous line’s hash: a line was removed or moved');
    if (hashOf(body) !== hash) return broken('hash does not match the entry: the line was changed');
    prevHash = hash;
  }
  return { ok: true, entries: lines.length, lastHash: prevHash };
}

/** Verifies an audit log file; a missing file throws, as a file that is not there proves nothing. */
export async function verifyAuditLog(path: string): Promise<AuditVerification> {
  return verifyAuditText(await readFile(path, 'utf8'));
}

/** What identifies the file's content as this sink last saw it, without reading it. */
interface FileIdentity {
  ino: number;
  size: number;
  mtimeMs: number;
}

const identityOf = async (path: string): Promise<FileIdentity | undefined> => {
  try {
    const { ino, size, mtimeMs } = await stat(path);
    return { ino, size, mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
};

const sameFile = (a: FileIdentity | undefined, b: FileIdentity | undefined) =>
  a !== undefined && b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;

interface ChainHead {
  seq: number;
  hash: string;
  /** The file as it was when this head was read or written: unchanged since, it need not be read again. */
  file: FileIdentity | undefined;
}

/**
 * Appends JSON lines to one file, each carrying the hash of the one before. Appends are serialised in this
 * process, and the chain resumes from the file's last entry, so a restarted worker continues it. Several
 * processes writing the same file would fork the chain: give each worker its own file.
 */
export class FileAuditSink implements AuditSink {
  /** The last entry written, once the file has been read. */
  private last: Promise<ChainHead> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {}

  append(event: AuditEvent): Promise<AuditEntry> {
    const appended = this.queue.then(() => this.write(event));
    this.queue = appended.catch(() => undefined);
    return appended;
  }

  /**
   * Checks that the chain is intact and the file can be written. The file is verified again only when it is
   * no longer exactly as this sink last wrote or read it (another writer, an operator's edit, a truncation):
   * verifying the whole chain before every step made each rotation slower than the one before.
   */
  ready(): Promise<void> {
    const checked = this.queue.then(async () => {
      const known = await this.last?.catch(() => undefined);
      if (known === undefined || !sameFile(known.file, await identityOf(this.path))) {
        this.last = this.resume();
        await this.last;
      }
      await access(this.path, constants.W_OK).catch(async (error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await access(dirname(this.path), constants.W_OK);
      });
    });
    // Appends queued behind a failed check read the file anew.
    this.queue = checked.catch(() => {
      this.last = undefined;
    });
    return checked;
  }

  private async write(event: AuditEvent): Promise<AuditEntry> {
    const checked = parseOrThrow(auditEventSchema, event, 'audit event');
    try {
      const last = await (this.last ??= this.resume());
      const body = { ...checked, seq: last.seq + 1, at: new Date().toISOString(), prevHash: last.hash };
      const entry = { ...body, hash: hashOf(body) };
      await appendFile(this.path, `${canonicalJson(entry)}\n`);
      this.last = Promise.resolve({ seq: entry.seq, hash: entry.hash, file: await identityOf(this.path) });
      return entry;
    } catch (error) {
      // Read the file anew next time: a failed write may have left part of a line, or an operator repaired it.
      this.last = undefined;
      throw error;
    }
  }

  /** A broken chain is never extended: the operator must see it first (`rotator audit verify`). */
  private async resume(): Promise<ChainHead> {
    const file = await identityOf(this.path);
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { seq: 0, hash: GENESIS_HASH, file };
      throw error;
    }
    const verified = verifyAuditText(text);
    if (!verified.ok) {
      throw new AuditLogError(
        `audit log ${this.path} is broken at line ${verified.line} (${verified.problem}): ` +
          'nothing more is appended until an operator repairs it (see rotator audit verify)',
      );
    }
    return { seq: verified.entries, hash: verified.lastHash, file };
  }
}
