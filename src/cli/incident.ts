import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { vaultPathSetting } from '../audit';
import { DEFAULT_DATA_DIR } from '../config/environment';
import { fingerprintOf } from '../fingerprint';
import { ALERT_ROUTES, startAlertsServer } from '../incidents/alerts-server';
import { DeliveryLog } from '../incidents/deliveries';
import { alertSecretFetcher } from '../incidents/github-alert';
import { takeIn, type Intake, type StartBreakGlass } from '../incidents/intake';
import { startOrJoinBreakGlass } from '../incidents/start';
import type { BreakGlassRequest } from '../incidents/request';
import { createLogger } from '../logging';
import { AdminSecrets } from '../providers/admin-secrets';
import { openStores, type StoredField, type Stores } from '../stores';
import { storedFieldReader } from '../stores/read-field';
import { secretFieldSchema } from '../vault';
import { CliContext, CliError, EXIT, parseOptions, withJson } from './context';
import { vaultOf } from './verify-state';

/** How intake starts a break-glass rotation: `startOrJoinBreakGlass` (src/incidents/start.ts) unless a test gives another. */
export type StartBreakGlassOn = (
  client: Client,
  taskQueue: string,
  request: BreakGlassRequest,
) => ReturnType<StartBreakGlass>;

/** What the incident commands take from `runCli`'s caller rather than from the environment. */
export interface IncidentServices {
  /** The break-glass start: the real one unless a test looks at the requests intake makes. */
  startBreakGlass?: StartBreakGlassOn;
  /** Where `incident --stdin` reads the token: the process's stdin unless a test gives another. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Stops `alerts-server`; without it, SIGINT or SIGTERM does. */
  stop?: AbortSignal;
}

/** The longest token `incident --stdin` reads: anything longer is not one token. */
const MAX_STDIN_BYTES = 64 * 1024;

/** A log destination that writes through the CLI's output. */
const linesTo = (write: (text: string) => void) =>
  new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      write(String(chunk));
      done();
    },
  });

/** What both commands share: the stores, the inventory read anew at each alert, and the start. */
async function intakeOf(
  cli: CliContext,
  services: IncidentServices,
  inventory: string | undefined,
  command: string,
  logger: Intake['logger'],
): Promise<{ intake: Intake; stores: Stores }> {
  const { startBreakGlass = startOrJoinBreakGlass } = services;
  const stores = openStores({ vault: await vaultOf(cli.env, command) });
  // The inventory is read first, so that a bad one stops the command before Temporal is reached.
  await cli.inventory(inventory);
  const client = await cli.client();
  const { taskQueue } = cli.config.temporal;
  return {
    stores,
    intake: {
      credentials: async () => (await cli.inventory(inventory)).credentials,
      stores,
      start: (request) => startBreakGlass(client, taskQueue, request),
      logger,
    },
  };
}

/** The token on stdin, whitespace around it dropped; a terminal is refused, since typing would show it. */
async function tokenFromStdin(stdin: NonNullable<IncidentServices['stdin']>): Promise<string> {
  if (stdin.isTTY === true)
    throw new CliError(
      '--stdin: pipe the token in (`rotator incident --stdin < file`), not typed',
      EXIT.usage,
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += bytes.length;
    if (size > MAX_STDIN_BYTES) throw new CliError(`--stdin: more than ${MAX_STDIN_BYTES} bytes`, EXIT.usage);
    chunks.push(bytes);
  }
  const token = Buffer.concat(chunks).toString('utf8').trim();
  if (token === '') throw new CliError('--stdin: no token on stdin', EXIT.usage);
  if (/\s/.test(token)) throw new CliError('--stdin: one token only (it holds whitespace)', EXIT.usage);
  return token;
}

const incidentOptionsSchema = z
  .object({
    stdin: z.literal(true, { error: 'required: the token is read from stdin, never from the arguments' }),
    credential: z.string().min(1).optional(),
    url: z.string().url().optional(),
    reportedBy: z.string().min(1).max(200).optional(),
    requestedBy: z.string().min(1).optional(),
    inventory: z.string().min(1).optional(),
    json: z.boolean().optional(),
  })
  .strict();

/** `<mount>/<path>#<key>` of a KV v2 field: where a webhook's signing secret is kept. */
const vaultFieldOption = z.string().transform((text, context) => {
  const hash = text.lastIndexOf('#');
  const parsed = secretFieldSchema.safeParse({
    ...vaultPathSetting(hash < 0 ? '' : text.slice(0, hash)),
    key: text.slice(hash + 1),
  });
  if (hash < 0 || !parsed.success) {
    context.addIssue({
      code: 'custom',
      message: 'expected <mount>/<path>#<key>, such as secret/alerts#github',
    });
    return z.NEVER;
  }
  return parsed.data;
});

const serverOptionsSchema = z
  .object({
    port: z.coerce.number().int().min(0).max(65535).default(8090),
    host: z.string().min(1).default('0.0.0.0'),
    githubSecret: vaultFieldOption.optional(),
    webhookSecret: vaultFieldOption.optional(),
    deliveries: z.string().min(1).optional(),
    inventory: z.string().min(1).optional(),
  })
  .strict()
  .refine((options) => options.githubSecret !== undefined || options.webhookSecret !== undefined, {
    path: ['githubSecret'],
    message: 'give --github-secret, --webhook-secret or both: a route without its secret is not served',
  });

/** Registers `incident` and `alerts-server`; answers `incident`, which `incident report` joins. */
export function registerIncident(program: Command, cli: CliContext, services: IncidentServices): Command {
  const incident = withJson(
    program
      .command('incident')
      // `incident report <id> --json` is the report's --json, not this command's.
      .enablePositionalOptions()
      .description(
        'report a leaked token: read it from stdin (never the arguments), fingerprint it and forget it, find ' +
          'the credential and version that hold it (current or previous) and start its break-glass rotation. ' +
          'Reads the stores (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT). Exits 0 when a rotation started or runs, ' +
          '1 when no credential of the inventory holds the token',
      )
      .option('--stdin', 'read the leaked token from stdin (required)')
      .option('--credential <id>', 'the credential you believe it is: looked at first')
      .option('--url <url>', 'where the leak was seen')
      .option('--reported-by <who>', 'who found it')
      .option('--requested-by <name>', 'who asks for the rotation (default: $USER)')
      .option('--inventory <file>', 'the inventory (default: $ROTATOR_INVENTORY, or ./rotator.yaml)'),
  );
  incident.action(
    cli.action(async (raw: unknown) => {
      const options = parseOptions(incidentOptionsSchema, raw);
      const requestedBy = cli.requester(options.requestedBy);
      // The token is read before anything else, and only its fingerprint is kept past this line.
      const fingerprint = fingerprintOf(await tokenFromStdin(services.stdin ?? process.stdin));
      const logger = createLogger('error', linesTo(cli.io.stderr), { format: 'json' });
      const { intake } = await intakeOf(cli, services, options.inventory, 'incident', logger);
      const { credential } = options;
      if (credential !== undefined && !(await intake.credentials()).some(({ id }) => id === credential))
        throw new CliError(`--credential: no credential "${credential}" in the inventory`, EXIT.usage);
      const outcome = await takeIn(
        {
          fingerprint,
          alert: {
            source: 'stdin',
            id: `stdin:${requestedBy}:${new Date().toISOString()}`,
            ...(options.url === undefined ? {} : { url: options.url }),
            ...(options.reportedBy === undefined ? {} : { reportedBy: options.reportedBy }),
          },
          requestedBy,
          ...(options.credential === undefined ? {} : { hint: options.credential }),
        },
        intake,
      );
      if (options.json === true) cli.json(outcome);
      else if (outcome.result === 'not managed here')
        cli.io.stdout(
          'not managed here: no credential of the inventory holds this token, in its current or previous ' +
            'version; revoke it where it was issued\n',
        );
      else
        cli.io.stdout(
          `the ${outcome.version} version of ${outcome.credentialId} (field ${outcome.field}) holds it: ` +
            `break-glass rotation ${outcome.workflowId} ${outcome.alreadyRunning ? 'runs already' : 'started'}\n` +
            `${cli.workflowUrl(outcome.workflowId)}\n`,
        );
      return outcome.result === 'started' ? EXIT.ok : EXIT.failed;
    }),
  );

  program
    .command('alerts-server')
    .description(
      `serve leak alerts until SIGINT or SIGTERM: GitHub's secret_scanning_alert webhook at ${ALERT_ROUTES.github} ` +
        `and a generic signed webhook at ${ALERT_ROUTES.webhook}, each only with its signing secret's field ` +
        '(docs/incidents.md, "Alert intake"). Reads the stores (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT)',
    )
    .option('--port <port>', 'the port to listen on', '8090')
    .option('--host <address>', 'the address to listen on', '0.0.0.0')
    .option('--github-secret <mount/path#key>', "the Vault field holding the GitHub webhook's secret")
    .option('--webhook-secret <mount/path#key>', "the Vault field holding the generic webhook's secret")
    .option(
      '--deliveries <file>',
      'where handled delivery ids are kept (default: $ROTATOR_DATA_DIR/alert-deliveries.json)',
    )
    .option('--inventory <file>', 'the inventory (default: $ROTATOR_INVENTORY, or ./rotator.yaml)')
    .action(
      cli.action(async (raw: unknown) => {
        const options = parseOptions(serverOptionsSchema, raw);
        const logger = createLogger('info', linesTo(cli.io.stdout), { format: 'json' });
        const { intake, stores } = await intakeOf(cli, services, options.inventory, 'alerts-server', logger);
        const file =
          options.deliveries ?? join(cli.env.ROTATOR_DATA_DIR ?? DEFAULT_DATA_DIR, 'alert-deliveries.json');
        const deliveries = await DeliveryLog.open(file);
        // Cached a minute like the worker's admin tokens, so that a replaced secret is picked up soon.
        const secrets = new AdminSecrets(storedFieldReader(stores));
        const signing = (at: StoredField | undefined) =>
          at === undefined ? undefined : () => secrets.get(at);
        const server = await startAlertsServer({
          port: options.port,
          host: options.host,
          intake,
          deliveries,
          secrets: { github: signing(options.githubSecret), webhook: signing(options.webhookSecret) },
          fetchAlertSecret: alertSecretFetcher(
            async () => (await cli.inventory(options.inventory)).providers.github,
            secrets.get.bind(secrets),
          ),
          logger,
        });
        logger.info(
          {
            port: server.port,
            routes: [
              ...(options.githubSecret === undefined ? [] : [ALERT_ROUTES.github]),
              ...(options.webhookSecret === undefined ? [] : [ALERT_ROUTES.webhook]),
            ],
            deliveries: file,
          },
          'alerts server started',
        );
        await new Promise<void>((resolve) => {
          if (services.stop !== undefined) services.stop.addEventListener('abort', () => resolve());
          else for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
        });
        await server.close();
        logger.info('alerts server stopped');
        return EXIT.ok;
      }),
    );
  return incident;
}
