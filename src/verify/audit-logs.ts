import { readFile } from 'node:fs/promises';
import { verifyAuditTextAnchored, type AuditEntry, type AuditTrust } from '../audit';
import type { AuditLogCheck } from './report';

/** Every worker's audit log, verified, and the entries they hold for the terminal-state checks. */
export interface AuditLogs {
  checks: AuditLogCheck[];
  /** The entries of every log, intact or not: a broken chain is reported, its entries still say what happened. */
  entries: AuditEntry[];
}

/** Each worker writes its own file, so a run has several; a file that cannot be read proves nothing. */
export async function readAuditLogs(
  paths: string[],
  trustOf: (path: string) => AuditTrust,
): Promise<AuditLogs> {
  const logs: AuditLogs = { checks: [], entries: [] };
  for (const path of paths) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
      logs.checks.push({ path, ok: false, problem: `cannot be read (${code})` });
      continue;
    }
    const { key, anchor } = trustOf(path);
    const verified = verifyAuditTextAnchored(text, key, await anchor.read(), anchor.name);
    logs.checks.push(
      verified.ok
        ? { path, ok: true, entries: verified.entries }
        : { path, ok: false, line: verified.line, problem: verified.problem },
    );
    logs.entries.push(...entriesOf(text));
  }
  return logs;
}

/** The lines that parse as JSON; a broken line is skipped here, as the chain check reports it. */
function entriesOf(text: string): AuditEntry[] {
  return text.split('\n').flatMap((line) => {
    if (line === '') return [];
    try {
      return [JSON.parse(line) as AuditEntry];
    } catch {
      return [];
    }
  });
}
