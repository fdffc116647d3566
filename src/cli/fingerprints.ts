import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { fingerprintProblems, fingerprintsOf } from '../fingerprint';
import type { Credential } from '../inventory/schema';
import { rotationWorkflowId } from '../rotation-names';
import { describeStore, openStores, type Stores } from '../stores';
import { versionLabel } from '../stores/labels';
import { StoreError } from '../stores/store';
import { CliContext, EXIT, isNotFound, parseOptions, table, withJson } from './context';
import { vaultOf } from './verify-state';

const optionsSchema = z
  .object({
    inventory: z.string().min(1).optional(),
    dryRun: z.boolean().optional(),
    json: z.boolean().optional(),
  })
  .strict();

/** What the backfill did with one credential; names fields and versions, never a value or a fingerprint. */
interface Backfilled {
  credentialId: string;
  result: 'written' | 'would-write' | 'has-fingerprints' | 'skipped' | 'failed';
  detail: string;
}

/** The run of the credential's rotation that is open, if one is. */
async function openRotation(client: Client, credentialId: string): Promise<string | undefined> {
  try {
    const description = await client.workflow.getHandle(rotationWorkflowId(credentialId)).describe();
    return description.status.name === 'RUNNING' ? description.runId : undefined;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

const rotating = (credentialId: string, runId: string): Backfilled => ({
  credentialId,
  result: 'skipped',
  detail: `${rotationWorkflowId(credentialId)} (run ${runId}) runs: its promote writes the fingerprints`,
});

/**
 * Writes the missing (or wrong) fingerprints onto one credential's current version, as a new version over
 * the one read. A rotation's promote is a check-and-set on the version its detect read, so a write under
 * a running rotation would make that promote refuse with a conflict and roll the rotation back: a
 * credential whose rotation runs is skipped instead (that rotation writes the fingerprints itself), asked
 * right before the write. A rotation that starts in between is named, since it may roll back.
 */
async function backfill(
  { id, store: at }: Credential,
  { client, stores, dryRun }: { client: Client; stores: Stores; dryRun: boolean },
): Promise<Backfilled> {
  const store = stores.of(at);
  const { data, version } = await store.readCurrent(at);
  const where = `${describeStore(at)} ${versionLabel(version)}`;
  const fields = fingerprintProblems(data).map(({ field }) => field);
  if (fields.length === 0)
    return {
      credentialId: id,
      result: 'has-fingerprints',
      detail: `${where}: every token has its fingerprint`,
    };
  const which = `fingerprints of ${fields.join(', ')}`;
  const before = await openRotation(client, id);
  if (before !== undefined) return rotating(id, before);
  if (dryRun)
    return { credentialId: id, result: 'would-write', detail: `${where}: would write the ${which}` };
  const written = await store.amend(version, fingerprintsOf(data));
  const after = await openRotation(client, id);
  const raced =
    after === undefined
      ? ''
      : `; ${rotationWorkflowId(id)} (run ${after}) started meanwhile: if it read ${versionLabel(version)}, ` +
        'its promote refuses with a conflict and it rolls back (rotate it again)';
  return {
    credentialId: id,
    result: 'written',
    detail: `${where}: wrote the ${which} as ${versionLabel(written)}${raced}`,
  };
}

export function registerFingerprints(program: Command, cli: CliContext): void {
  withJson(
    program
      .command('fingerprints')
      .description("the tokens' fingerprints kept beside them in the store")
      .command('backfill')
      .description(
        'write the fingerprint of each token onto the current version of every credential of the inventory ' +
          'that lacks it (or holds a wrong one), as a new version; a credential whose rotation runs is ' +
          'skipped, since its promote writes them. Reads and writes the stores (VAULT_ADDR, VAULT_TOKEN, ' +
          'VAULT_CACERT; AWS credentials from the SDK chain); never prints a value nor a fingerprint. Exits 0 ' +
          'unless a credential failed',
      )
      .option('--inventory <file>', 'the inventory (default: $ROTATOR_INVENTORY, or ./rotator.yaml)')
      .option('--dry-run', 'say what would be written, and write nothing'),
  ).action(
    cli.action(async (raw: unknown) => {
      const options = parseOptions(optionsSchema, raw);
      const inventory = await cli.inventory(options.inventory);
      const stores = openStores({ vault: await vaultOf(cli.env, 'fingerprints backfill') });
      const client = await cli.client();
      const dryRun = options.dryRun === true;
      const results: Backfilled[] = [];
      // One at a time: a backfill is run once, and the stores' and Temporal's rate limits are shared.
      for (const credential of inventory.credentials) {
        results.push(
          await backfill(credential, { client, stores, dryRun }).catch((error: unknown): Backfilled => {
            // A store's refusal is this credential's; anything else (Temporal gone) stops the command.
            if (!(error instanceof StoreError)) throw error;
            return { credentialId: credential.id, result: 'failed', detail: error.message };
          }),
        );
      }
      if (options.json === true) cli.json({ dryRun, credentials: results });
      else
        cli.io.stdout(
          table(
            ['CREDENTIAL', 'RESULT', 'DETAIL'],
            results.map(({ credentialId, result, detail }) => [credentialId, result, detail]),
          ),
        );
      return results.some(({ result }) => result === 'failed') ? EXIT.failed : EXIT.ok;
    }),
  );
}
