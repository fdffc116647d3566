import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { verifyAuditTextAnchored, type AuditTrust } from '../audit';
import { auditTrustOf } from './audit-trust';
import { DEFAULT_AUDIT_LOG, DEFAULT_INVENTORY } from '../config/environment';
import { InventoryTooLarge, loadInventory, readInventoryText, type InventoryResult } from '../inventory/load';
import { unrotatableAdminTokenNotes } from '../inventory/providers';
import { inventoryJsonSchema, type Inventory } from '../inventory/schema';
import { CliContext, EXIT, type CliIo, type ExitCode } from './context';

/** The commands that read files and need no Temporal: `config check|schema` and `audit verify`. */
export function registerFileCommands(program: Command, cli: CliContext): void {
  const config = program.command('config').description('check the inventory, or print its JSON Schema');
  config
    .command('check')
    .description('validate an inventory and summarise it; exits 1 when it is invalid')
    .argument('[file]', `inventory file (default: $ROTATOR_INVENTORY, or ${DEFAULT_INVENTORY})`)
    .action(
      cli.action(async (file: string | undefined) =>
        checkInventory(file ?? (cli.env.ROTATOR_INVENTORY || DEFAULT_INVENTORY), cli.io),
      ),
    );
  config
    .command('schema')
    .description("print the inventory's JSON Schema, for editors")
    .action(
      cli.action(async () => {
        cli.io.stdout(`${JSON.stringify(inventoryJsonSchema(), null, 2)}\n`);
        return EXIT.ok;
      }),
    );

  const audit = program.command('audit').description('check the audit log');
  audit
    .command('verify')
    .description('check that no entry of the audit log was changed, removed or moved; exits 1 when one was')
    .argument('[file]', `audit log (default: $ROTATOR_AUDIT_LOG, or ${DEFAULT_AUDIT_LOG})`)
    .action(
      cli.action(async (file: string | undefined) => {
        const log = file ?? (cli.env.ROTATOR_AUDIT_LOG || DEFAULT_AUDIT_LOG);
        return verifyAudit(log, (await auditTrustOf(cli.env))(log), cli.io);
      }),
    );
}

function cannotRead(file: string, error: unknown, io: CliIo): ExitCode {
  io.stderr(`rotator: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})\n`);
  return EXIT.usage;
}

async function verifyAudit(file: string, trust: AuditTrust, io: CliIo): Promise<ExitCode> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return cannotRead(file, error, io);
  }
  const result = verifyAuditTextAnchored(text, trust.key, await trust.anchor.read(), trust.anchor.name);
  if (!result.ok) {
    io.stderr(`${file}:${result.line}: ${result.problem}\n${file} is broken\n`);
    return EXIT.failed;
  }
  const noun = result.entries === 1 ? 'entry' : 'entries';
  io.stdout(`${file} is intact: ${result.entries} ${noun}, last hash ${result.lastHash}\n`);
  if (result.unanchored !== undefined)
    io.stdout(
      `${result.unanchored} of them after the head anchored at ${trust.anchor.name}: keyed, but a cut there would not show\n`,
    );
  return EXIT.ok;
}

async function checkInventory(file: string, io: CliIo): Promise<ExitCode> {
  let result: InventoryResult;
  try {
    result = loadInventory(await readInventoryText(file));
  } catch (error) {
    if (!(error instanceof InventoryTooLarge)) return cannotRead(file, error, io);
    result = { ok: false, errors: [error.message] };
  }
  if (!result.ok) {
    // Errors located in the text read `file:line:column: ...`, as compilers write them.
    for (const error of result.errors)
      io.stderr(/^\d+:\d+: /.test(error) ? `${file}:${error}\n` : `${file}: ${error}\n`);
    const total = result.total ?? result.errors.length;
    io.stderr(`${file} is invalid: ${total} ${total === 1 ? 'error' : 'errors'}\n`);
    return EXIT.failed;
  }
  io.stdout(summary(file, result.inventory));
  for (const note of [...maskingNotes(result.inventory), ...unrotatableAdminTokenNotes(result.inventory)])
    io.stderr(`${file}: note: ${note}\n`);
  return EXIT.ok;
}

/**
 * Source kinds whose tokens may hold characters GitLab cannot mask: RFC 6749 lets OAuth2 tokens be any
 * printable ASCII (VSCHAR). GitLab's own tokens are letters, digits, "-", "_" and ".", which it can mask.
 */
const MAYBE_UNMASKABLE = new Set(['oauth2-refresh-token']);

/** Masked CI variables that take tokens GitLab may be unable to mask. */
function maskingNotes({ credentials }: Inventory): string[] {
  return credentials.flatMap((credential, index) =>
    MAYBE_UNMASKABLE.has(credential.source.kind)
      ? credential.targets.flatMap((target, targetIndex) =>
          target.kind === 'gitlab-ci-variable' && target.masked
            ? [
                `credentials[${index}].targets[${targetIndex}] is a masked CI variable, and ${credential.source.kind} ` +
                  'tokens may hold characters GitLab cannot mask (RFC 6749 allows any printable ASCII): a new value ' +
                  'it cannot mask fails the rotation at verify, before any target is written',
              ]
            : [],
        )
      : [],
  );
}

/** Credentials by source kind and environment, as a table with totals. */
function summary(file: string, { credentials }: Inventory): string {
  const environments = [...new Set(credentials.map((credential) => credential.environment))].sort();
  const kinds = [...new Set(credentials.map((credential) => credential.source.kind))].sort();
  // Counted in one pass: a fleet has 10,000 credentials. '*' stands for any kind or environment; slugs hold none.
  const counts = new Map<string, number>();
  const add = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
  for (const { source, environment } of credentials) {
    add(`${source.kind} ${environment}`);
    add(`${source.kind} *`);
    add(`* ${environment}`);
    add('* *');
  }
  const count = (kind: string | undefined, environment: string | undefined) =>
    counts.get(`${kind ?? '*'} ${environment ?? '*'}`) ?? 0;
  // One column per environment, then the total over all of them (undefined: any environment).
  const columns = [...environments, undefined];
  const heading = (environment: string | undefined) => environment ?? 'total';
  const labelWidth = Math.max(...['source kind', ...kinds].map((label) => label.length));
  const row = (label: string, kind: string | undefined) =>
    [
      label.padEnd(labelWidth),
      ...columns.map((environment) => String(count(kind, environment)).padStart(heading(environment).length)),
    ].join('  ');
  const table = [
    ['source kind'.padEnd(labelWidth), ...columns.map(heading)].join('  '),
    ...kinds.map((kind) => row(kind, kind)),
    row('total', undefined),
  ];
  const noun = credentials.length === 1 ? 'credential' : 'credentials';
  return `${file} is valid: ${credentials.length} ${noun}\n\n${table.join('\n')}\n`;
}
