import { z } from 'zod';
import { defaultAnchorPath, vaultPathSetting } from '../audit';
import { KEYS_FILE_VARIABLE, KEYS_VARIABLE, parseCodecKeys } from '../codec/keys';
import { duration } from '../inventory/durations';
import { LOG_FORMATS, type LogFormat, type LogLevel } from '../logging';
import { crossFieldRule, parseOrThrow, type ValidationError } from '../validation';
import { secretPathSchema, type SecretPath } from '../vault';
import { temporalTlsSettings, type TemporalTlsVariables } from './temporal-tls';

const DEFAULT_TASK_QUEUE = 'credential-rotation';
/** The inventory `rotator config check` reads when given no file and ROTATOR_INVENTORY is unset. */
export const DEFAULT_INVENTORY = './rotator.yaml';
/** The audit log the worker appends to, and `rotator audit verify` checks, when ROTATOR_AUDIT_LOG is unset. */
export const DEFAULT_AUDIT_LOG = './rotator-audit.jsonl';
/** The KV v2 secret (`<mount>/<path>`) whose field `key` holds the audit chain's HMAC key. */
export const DEFAULT_AUDIT_KEY_PATH = 'secret/cred-rotator/audit-key';
/**
 * What the process that runs a worker is started with, as the image sets it (docs/deployment.md, "Memory"):
 * at most two glibc malloc arenas. The SDK's core runs threads of its own, and glibc gives threads arenas of
 * their own, up to 8 per core, whose freed pages stay resident: with 250 rotations cached the worker held
 * 651 MB with the default and 570 MB with 2, at the same throughput. glibc reads it as the process starts,
 * so the worker cannot set it for itself.
 */
export const WORKER_PROCESS_ENVIRONMENT = { MALLOC_ARENA_MAX: '2' } as const;
/** Where the embedded Temporal dev server keeps its SQLite file, and the embedded servers their logs. */
export const DEFAULT_DATA_DIR = './.cache/data';
/** The embedded Temporal dev server's frontend port; the CLI's default TEMPORAL_ADDRESS points there. */
const EMBEDDED_TEMPORAL_PORT = '7233';

// `<mount>/<path>` of a KV v2 secret, its mount the first segment; kept as text so that docs/deployment.md shows the
// default as written, and split by `secretPathOf` below.
const secretPathOf = (text: string) => secretPathSchema.parse(vaultPathSetting(text));
const vaultPath = z
  .string()
  .refine(
    (text) => secretPathSchema.safeParse(vaultPathSetting(text)).success,
    'expected <mount>/<path> of a KV v2 secret, such as secret/cred-rotator/audit-key',
  );

/** A whole number from 1 to `most`, given as text; `expected` is the one message for anything else. */
const wholeNumber = (most: number, expected: string) =>
  z.string().regex(/^\d+$/, expected).transform(Number).pipe(z.int().min(1, expected).max(most, expected));

const port = wholeNumber(65535, 'expected a port number from 1 to 65535');
/** How many rotations a worker keeps in memory unless ROTATOR_WORKFLOW_CACHE says. */
export const DEFAULT_WORKFLOW_CACHE = 100;
const workflowCache = wholeNumber(
  100_000,
  'expected a whole number of workflows from 1 to 100000, such as 100',
);

// Kept as text so that docs/deployment.md's table shows the default as written; the transform below converts it.
const durationText = z
  .string()
  .refine((text) => duration.safeParse(text).success, 'expected a duration such as "30s" or "2m"');

/**
 * The transport guarantees an operator can waive, each by name in ROTATOR_ALLOW_INSECURE (comma-separated):
 * the worker logs every waiver in effect at start.
 */
export const INSECURE_WAIVERS = {
  'vault-http':
    'VAULT_ADDR is plain http to another host: the Vault token and every value cross the network in clear',
  'temporal-plaintext':
    'TEMPORAL_ADDRESS is another host, without TLS: workflow traffic crosses the network in clear',
  'no-codec':
    'Temporal is another host and payloads are not encrypted (no ROTATOR_CODEC_KEYS_FILE or ROTATOR_CODEC_KEYS)',
} as const;
export type InsecureWaiver = keyof typeof INSECURE_WAIVERS;
const WAIVER_NAMES = Object.keys(INSECURE_WAIVERS) as InsecureWaiver[];

const waiverList = z.string().transform((text, ctx) => {
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(WAIVER_NAMES as string[]).includes(name));
  if (unknown.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a comma-separated list of ${WAIVER_NAMES.join(', ')}; unknown: ${unknown.join(', ')}`,
    });
    return z.NEVER;
  }
  return new Set(names as InsecureWaiver[]);
});

/** 127.0.0.0/8, ::1 and localhost: traffic that never leaves the host. */
export function isLoopbackHost(host: string): boolean {
  return /^(localhost|127(\.\d{1,3}){3}|\[::1\]|::1)$/i.test(host);
}

/** The host of a Temporal address, `host:port` or `[v6]:port`. */
function temporalHost(address: string): string {
  return /^(\[[^\]]*\]|[^:]*)/.exec(address)?.[1] ?? address;
}

// A URL's user and password would be printed wherever the URL is (the start-up log): credentials have
// variables of their own. The message never repeats the URL.
const NO_USER_INFO = 'must not hold a user name or password (credentials have variables of their own)';
// Runs on text that failed the URL check too, which reports it: nothing to add then.
const withoutUserInfo = (text: string) => {
  const url = URL.parse(text);
  return url === null || (url.username === '' && url.password === '');
};
const httpUrl = (error: string) =>
  z.url({ protocol: /^https?$/, error }).refine(withoutUserInfo, NO_USER_INFO);

const temporalAddress = z
  .string()
  .refine((address) => !address.includes('@'), `expected host:port; ${NO_USER_INFO}`);

// Key material: its errors name an entry by position and key id, never the key.
const codecKeyList = z.string().transform((text, ctx) => {
  try {
    return parseCodecKeys(text, KEYS_VARIABLE, 'list');
  } catch (error) {
    for (const issue of (error as ValidationError).issues) ctx.addIssue({ code: 'custom', message: issue });
    return z.NEVER;
  }
});

/** Every variable the worker reads, with its default. docs/deployment.md, "Variables", lists the same ones. */
export const workerVariablesSchema = z.object({
  // Unset, the worker starts the Temporal dev server itself (see `embedded` below).
  TEMPORAL_ADDRESS: temporalAddress.optional(),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default(DEFAULT_TASK_QUEUE),
  TEMPORAL_TLS_CERT: z.string().optional(),
  TEMPORAL_TLS_KEY: z.string().optional(),
  TEMPORAL_TLS_CA: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  // Unset, the worker starts a Vault dev server in memory.
  VAULT_ADDR: httpUrl('expected a URL such as https://vault.example.com:8200').optional(),
  VAULT_CACERT: z.string().optional(),
  VAULT_TOKEN: z.string().optional(),
  VAULT_ROLE_ID: z.string().optional(),
  VAULT_SECRET_ID_FILE: z.string().optional(),
  ROTATOR_INVENTORY: z.string().default(DEFAULT_INVENTORY),
  ROTATOR_AUDIT_LOG: z.string().default(DEFAULT_AUDIT_LOG),
  ROTATOR_AUDIT_KEY_PATH: vaultPath.default(DEFAULT_AUDIT_KEY_PATH),
  ROTATOR_AUDIT_ANCHOR_PATH: vaultPath.optional(),
  // Its path is a credential (Slack's is), so the error never repeats it.
  ROTATOR_ALERT_WEBHOOK_URL: httpUrl(
    'expected an http(s) URL such as https://hooks.slack.com/services/...',
  ).optional(),
  // The alerts link to it; unset, to DEFAULT_TEMPORAL_UI_URL.
  TEMPORAL_UI_URL: httpUrl('expected a URL such as http://localhost:8233').optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  // Unset, readable lines on a terminal and JSON lines otherwise (see createLogger).
  LOG_FORMAT: z.enum(LOG_FORMATS).optional(),
  METRICS_PORT: port.prefault('9464'),
  ROTATOR_HEALTH_PORT: port.prefault('8080'),
  ROTATOR_SHUTDOWN_GRACE: durationText.default('30s'),
  ROTATOR_WORKFLOW_CACHE: workflowCache.prefault(String(DEFAULT_WORKFLOW_CACHE)),
  ROTATOR_DATA_DIR: z.string().default(DEFAULT_DATA_DIR),
  ROTATOR_EMBEDDED_TEMPORAL_PORT: port.prefault(EMBEDDED_TEMPORAL_PORT),
  ROTATOR_EMBEDDED_UI_PORT: port.prefault('8233'),
  ROTATOR_CODEC_KEYS_FILE: z.string().optional(),
  ROTATOR_CODEC_KEYS: codecKeyList.optional(),
  ROTATOR_CODEC_SERVER_PORT: port.prefault('8234'),
  ROTATOR_ALLOW_INSECURE: waiverList.optional(),
});

type Variable = keyof typeof workerVariablesSchema.shape;

const TEMPORAL_TLS_VARIABLES = [
  'TEMPORAL_TLS_CERT',
  'TEMPORAL_TLS_KEY',
  'TEMPORAL_TLS_CA',
  'TEMPORAL_TLS_SERVER_NAME',
] as const satisfies Variable[];

/** Reports whichever of two variables that only make sense together is missing. */
/** Where the worker and the CLI find Temporal: both read the same variables (the CLI has an address default). */
function temporalSettings<
  Variables extends TemporalTlsVariables & {
    TEMPORAL_ADDRESS?: string;
    TEMPORAL_NAMESPACE: string;
    TEMPORAL_TASK_QUEUE: string;
  },
>(variables: Variables) {
  return {
    address: variables.TEMPORAL_ADDRESS as Variables['TEMPORAL_ADDRESS'],
    namespace: variables.TEMPORAL_NAMESPACE,
    taskQueue: variables.TEMPORAL_TASK_QUEUE,
    tls: temporalTlsSettings(variables),
  };
}

function bothOrNeither(
  variables: unknown,
  report: (path: string[], message: string) => void,
  first: Variable,
  second: Variable,
): void {
  const has = (name: Variable) => (variables as Partial<Record<Variable, unknown>>)[name] !== undefined;
  if (has(first) && !has(second)) report([second], `required with ${first}`);
  if (has(second) && !has(first)) report([first], `required with ${second}`);
}

/** Two lists of keys would leave it unclear which one encrypts. */
function eitherCodecKeys(variables: unknown, report: (path: string[], message: string) => void): void {
  const has = (name: Variable) => (variables as Partial<Record<Variable, unknown>>)[name] !== undefined;
  if (has(KEYS_VARIABLE) && has(KEYS_FILE_VARIABLE))
    report([KEYS_VARIABLE], `set either ${KEYS_VARIABLE} or ${KEYS_FILE_VARIABLE}, not both`);
}

/** A transport guarantee the settings break, the variable to fix, and the waiver that allows it. */
interface TransportGap {
  waiver: InsecureWaiver;
  variable: Variable;
  message: string;
}

/**
 * Plaintext to another host, and a remote Temporal without payload encryption. The worker checks all three;
 * the CLI, which reads no Vault and starts no rotation with a secret in it, checks Temporal's TLS only.
 */
function transportGaps(variables: unknown, checks: readonly InsecureWaiver[]): TransportGap[] {
  const vars = variables as Partial<Record<Variable, unknown>>;
  const has = (name: Variable) => vars[name] !== undefined;
  const text = (name: Variable) => (typeof vars[name] === 'string' ? vars[name] : undefined);
  const vault = URL.parse(text('VAULT_ADDR') ?? '');
  const address = text('TEMPORAL_ADDRESS');
  const remoteTemporal = address !== undefined && !isLoopbackHost(temporalHost(address));
  const tls = TEMPORAL_TLS_VARIABLES.some(has);
  const gaps: TransportGap[] = [];
  if (vault?.protocol === 'http:' && !isLoopbackHost(vault.hostname))
    gaps.push({
      waiver: 'vault-http',
      variable: 'VAULT_ADDR',
      message: 'expected https for a Vault on another host',
    });
  if (remoteTemporal && !tls)
    gaps.push({
      waiver: 'temporal-plaintext',
      variable: 'TEMPORAL_ADDRESS',
      message: `a Temporal on another host needs TLS (${TEMPORAL_TLS_VARIABLES.join(', ')})`,
    });
  if (remoteTemporal && !has(KEYS_VARIABLE) && !has(KEYS_FILE_VARIABLE))
    gaps.push({
      waiver: 'no-codec',
      variable: KEYS_FILE_VARIABLE,
      message: `required (or ${KEYS_VARIABLE}) with a Temporal on another host, so that it stores no payload in clear`,
    });
  return gaps.filter((gap) => checks.includes(gap.waiver));
}

/** Reports every gap ROTATOR_ALLOW_INSECURE does not waive. */
function transportRule(
  variables: unknown,
  report: (path: string[], message: string) => void,
  checks: readonly InsecureWaiver[],
): void {
  const allowed = (variables as { ROTATOR_ALLOW_INSECURE?: unknown }).ROTATOR_ALLOW_INSECURE;
  for (const gap of transportGaps(variables, checks)) {
    // An invalid list is reported by its own variable: nothing is waived then.
    if (!(allowed instanceof Set && allowed.has(gap.waiver)))
      report([gap.variable], `${gap.message}; ROTATOR_ALLOW_INSECURE=${gap.waiver} allows it`);
  }
}

/** The waivers in effect, with what each exposes: logged at start. */
const waiversInEffect = (variables: unknown, checks: readonly InsecureWaiver[]) =>
  transportGaps(variables, checks).map(({ waiver }) => ({ waiver, risk: INSECURE_WAIVERS[waiver] }));

const WORKER_CHECKS = WAIVER_NAMES;
const CLI_CHECKS: readonly InsecureWaiver[] = ['temporal-plaintext'];

const environmentSchema = workerVariablesSchema
  .check(
    crossFieldRule((variables, report) => {
      const has = (name: Variable) => (variables as Partial<Record<Variable, unknown>>)[name] !== undefined;
      bothOrNeither(variables, report, 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY');
      eitherCodecKeys(variables, report);
      transportRule(variables, report, WORKER_CHECKS);
      // TLS settings or Vault credentials without an address were meant for a server elsewhere: starting
      // an embedded one instead would hide the mistake (and keep secrets in memory only).
      const tlsSet = TEMPORAL_TLS_VARIABLES.filter(has);
      if (!has('TEMPORAL_ADDRESS') && tlsSet.length > 0) {
        report(
          ['TEMPORAL_ADDRESS'],
          `required with ${tlsSet.join(', ')} (unset, the worker starts a local dev server)`,
        );
      }
      const appRole = has('VAULT_ROLE_ID') || has('VAULT_SECRET_ID_FILE');
      const vaultSet = (
        ['VAULT_TOKEN', 'VAULT_ROLE_ID', 'VAULT_SECRET_ID_FILE', 'VAULT_CACERT'] as const
      ).filter(has);
      if (!has('VAULT_ADDR')) {
        if (vaultSet.length > 0)
          report(
            ['VAULT_ADDR'],
            `required with ${vaultSet.join(', ')} (unset, the worker starts a Vault dev server in memory)`,
          );
      } else if (has('VAULT_TOKEN') && appRole) {
        report(
          ['VAULT_TOKEN'],
          'set either VAULT_TOKEN or AppRole (VAULT_ROLE_ID and VAULT_SECRET_ID_FILE), not both',
        );
      } else if (appRole) {
        bothOrNeither(variables, report, 'VAULT_ROLE_ID', 'VAULT_SECRET_ID_FILE');
      } else if (!has('VAULT_TOKEN')) {
        report(['VAULT_TOKEN'], 'required, unless AppRole is used (VAULT_ROLE_ID and VAULT_SECRET_ID_FILE)');
      }
    }),
  )
  .transform((variables) => {
    return {
      temporal: temporalSettings(variables),
      /** Undefined: start a Vault dev server, in memory. */
      vault:
        variables.VAULT_ADDR === undefined
          ? undefined
          : {
              address: variables.VAULT_ADDR,
              caCertFile: variables.VAULT_CACERT,
              auth:
                variables.VAULT_TOKEN === undefined
                  ? {
                      method: 'approle' as const,
                      // The rule above has made sure both are set.
                      roleId: variables.VAULT_ROLE_ID ?? '',
                      secretIdFile: variables.VAULT_SECRET_ID_FILE ?? '',
                    }
                  : { method: 'token' as const, token: variables.VAULT_TOKEN },
            },
      /** The dev servers the worker starts when TEMPORAL_ADDRESS or VAULT_ADDR is unset. */
      embedded: {
        dataDir: variables.ROTATOR_DATA_DIR,
        temporalPort: variables.ROTATOR_EMBEDDED_TEMPORAL_PORT,
        uiPort: variables.ROTATOR_EMBEDDED_UI_PORT,
        codecServerPort: variables.ROTATOR_CODEC_SERVER_PORT,
      },
      /** Neither set: payloads are not encrypted. */
      codec: { keysFile: variables.ROTATOR_CODEC_KEYS_FILE, keys: variables.ROTATOR_CODEC_KEYS },
      /** ROTATOR_ALLOW_INSECURE's waivers that these settings need: the worker logs each at start. */
      insecure: waiversInEffect(variables, WORKER_CHECKS),
      inventory: variables.ROTATOR_INVENTORY,
      auditLog: variables.ROTATOR_AUDIT_LOG,
      /** The audit chain's HMAC key and this log's anchor, in Vault. */
      audit: {
        keyPath: secretPathOf(variables.ROTATOR_AUDIT_KEY_PATH),
        anchorPath:
          variables.ROTATOR_AUDIT_ANCHOR_PATH === undefined
            ? defaultAnchorPath(secretPathOf(variables.ROTATOR_AUDIT_KEY_PATH), variables.ROTATOR_AUDIT_LOG)
            : secretPathOf(variables.ROTATOR_AUDIT_ANCHOR_PATH),
      },
      /** Without a webhook, alerts are logged. */
      alerts: {
        webhookUrl: variables.ROTATOR_ALERT_WEBHOOK_URL,
        temporalUiUrl: variables.TEMPORAL_UI_URL ?? DEFAULT_TEMPORAL_UI_URL,
      },
      logLevel: variables.LOG_LEVEL,
      /** Undefined: readable on a terminal, JSON otherwise. */
      logFormat: variables.LOG_FORMAT,
      metricsPort: variables.METRICS_PORT,
      healthPort: variables.ROTATOR_HEALTH_PORT,
      /** How long in-flight activities may run on after SIGTERM before they are cancelled. */
      shutdownGraceMs: duration.parse(variables.ROTATOR_SHUTDOWN_GRACE),
      /** How many rotations the worker keeps in memory; one it evicted is replayed when it next moves. */
      workflowCache: variables.ROTATOR_WORKFLOW_CACHE,
    };
  });

export type WorkerEnvironment = z.output<typeof environmentSchema>;

/** An empty variable (`VAULT_CACERT=` in a compose file) means the same as an unset one. */
function withoutEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '',
    ),
  );
}

/** The worker's configuration from its environment; throws a ValidationError naming every bad variable. */
export function readWorkerEnvironment(env: NodeJS.ProcessEnv): WorkerEnvironment {
  return parseOrThrow(environmentSchema, withoutEmpty(env), 'the worker environment');
}

/** LOG_LEVEL and LOG_FORMAT alone, for a program that starts a logger before the rest is read (the sandbox). */
export function readLogSettings(env: NodeJS.ProcessEnv): { level: LogLevel; format: LogFormat | undefined } {
  const variables = parseOrThrow(
    workerVariablesSchema.pick({ LOG_LEVEL: true, LOG_FORMAT: true }),
    withoutEmpty(env),
    'the log settings',
  );
  return { level: variables.LOG_LEVEL, format: variables.LOG_FORMAT };
}

/** The Temporal Web UI the CLI links to when TEMPORAL_UI_URL is unset (the dev server's and docker-compose's). */
export const DEFAULT_TEMPORAL_UI_URL = 'http://localhost:8233';

/** What the `rotator` CLI reads: how to reach Temporal, the inventory and the Web UI; it needs no Vault access. */
const cliEnvironmentSchema = workerVariablesSchema
  .pick({
    TEMPORAL_ADDRESS: true,
    TEMPORAL_NAMESPACE: true,
    TEMPORAL_TASK_QUEUE: true,
    TEMPORAL_TLS_CERT: true,
    TEMPORAL_TLS_KEY: true,
    TEMPORAL_TLS_CA: true,
    TEMPORAL_TLS_SERVER_NAME: true,
    ROTATOR_INVENTORY: true,
    ROTATOR_CODEC_KEYS_FILE: true,
    ROTATOR_CODEC_KEYS: true,
    ROTATOR_CODEC_SERVER_PORT: true,
    ROTATOR_ALLOW_INSECURE: true,
  })
  .extend({
    // The CLI starts no server: unset, it talks to the worker's embedded one.
    TEMPORAL_ADDRESS: temporalAddress.default(`127.0.0.1:${EMBEDDED_TEMPORAL_PORT}`),
    TEMPORAL_UI_URL: httpUrl('expected a URL such as http://localhost:8233').default(DEFAULT_TEMPORAL_UI_URL),
    /** Who the CLI acts for when --requested-by is not given. */
    USER: z.string().optional(),
    /** What `rotator codec-server` asks callers for, unless --token-file is given. */
    ROTATOR_CODEC_SERVER_TOKEN: z.string().optional(),
  })
  .check(
    crossFieldRule((variables, report) => {
      bothOrNeither(variables, report, 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY');
      eitherCodecKeys(variables, report);
      transportRule(variables, report, CLI_CHECKS);
    }),
  )
  .transform((variables) => {
    return {
      temporal: temporalSettings(variables),
      inventory: variables.ROTATOR_INVENTORY,
      uiUrl: variables.TEMPORAL_UI_URL.replace(/\/+$/, ''),
      user: variables.USER,
      codec: { keysFile: variables.ROTATOR_CODEC_KEYS_FILE, keys: variables.ROTATOR_CODEC_KEYS },
      codecServer: { port: variables.ROTATOR_CODEC_SERVER_PORT, token: variables.ROTATOR_CODEC_SERVER_TOKEN },
      insecure: waiversInEffect(variables, CLI_CHECKS),
    };
  });

export type CliEnvironment = z.output<typeof cliEnvironmentSchema>;

/** The CLI's configuration from its environment; throws a ValidationError naming every bad variable. */
export function readCliEnvironment(env: NodeJS.ProcessEnv): CliEnvironment {
  return parseOrThrow(cliEnvironmentSchema, withoutEmpty(env), 'the CLI environment');
}

/** What `rotator audit verify` and `verify-state` read to check audit logs: the key and anchors in Vault. */
const auditEnvironmentSchema = workerVariablesSchema
  .pick({
    VAULT_ADDR: true,
    VAULT_TOKEN: true,
    VAULT_CACERT: true,
    ROTATOR_AUDIT_KEY_PATH: true,
    ROTATOR_AUDIT_ANCHOR_PATH: true,
    ROTATOR_DATA_DIR: true,
    ROTATOR_ALLOW_INSECURE: true,
  })
  .check(
    crossFieldRule((variables, report) => {
      const has = (name: Variable) => (variables as Partial<Record<Variable, unknown>>)[name] !== undefined;
      if (has('VAULT_ADDR') && !has('VAULT_TOKEN')) report(['VAULT_TOKEN'], 'required with VAULT_ADDR');
      transportRule(variables, report, ['vault-http']);
    }),
  )
  .transform((variables) => ({
    /** Undefined: the log of a worker with the embedded Vault, whose key is in `dataDir` and anchor gone. */
    vault:
      variables.VAULT_ADDR === undefined
        ? undefined
        : {
            address: variables.VAULT_ADDR,
            token: variables.VAULT_TOKEN ?? '',
            caCertFile: variables.VAULT_CACERT,
          },
    keyPath: secretPathOf(variables.ROTATOR_AUDIT_KEY_PATH),
    anchorPath: (auditLog: string) =>
      variables.ROTATOR_AUDIT_ANCHOR_PATH === undefined
        ? defaultAnchorPath(secretPathOf(variables.ROTATOR_AUDIT_KEY_PATH), auditLog)
        : secretPathOf(variables.ROTATOR_AUDIT_ANCHOR_PATH),
    dataDir: variables.ROTATOR_DATA_DIR,
  }));

/** Where the worker keeps the audit key and anchors: what `rotator vault policy` grants. */
export function readAuditPaths(env: NodeJS.ProcessEnv): { key: SecretPath; anchor?: SecretPath } {
  const variables = parseOrThrow(
    workerVariablesSchema.pick({ ROTATOR_AUDIT_KEY_PATH: true, ROTATOR_AUDIT_ANCHOR_PATH: true }),
    withoutEmpty(env),
    'the audit settings',
  );
  const anchor = variables.ROTATOR_AUDIT_ANCHOR_PATH;
  return {
    key: secretPathOf(variables.ROTATOR_AUDIT_KEY_PATH),
    ...(anchor === undefined ? {} : { anchor: secretPathOf(anchor) }),
  };
}

export type AuditEnvironment = z.output<typeof auditEnvironmentSchema>;

/** The audit commands' configuration; throws a ValidationError naming every bad variable. */
export function readAuditEnvironment(env: NodeJS.ProcessEnv): AuditEnvironment {
  return parseOrThrow(auditEnvironmentSchema, withoutEmpty(env), 'the audit environment');
}
