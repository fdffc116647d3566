import { readFile } from 'node:fs/promises';
import type * as TemporalClient from '@temporalio/client';
import type { Client, Connection, WorkflowExecutionInfo } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { readCodecKeys, type CodecKeys } from '../codec/keys';
import { readCliEnvironment, type CliEnvironment } from '../config/environment';
import { temporalTlsConfig } from '../config/temporal-tls';
import { InventoryTooLarge, loadInventory, readInventoryText } from '../inventory/load';
import type { Credential, Inventory } from '../inventory/schema';
import { ROTATION_OUTCOME, ROTATION_PHASE } from '../search-attributes';
import { ValidationError, problemsIn, validate } from '../validation';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** The exit codes of every command; docs/operations.md, "The operator CLI", lists the same. */
export const EXIT = {
  ok: 0,
  /** A rotation ended rolled back, failed or cancelled; an inventory or audit log is invalid. */
  failed: 1,
  /** A wrong argument, an unknown credential, an unreadable inventory, a bad environment variable. */
  usage: 2,
  /** Temporal or the workflow refused: a rotation already runs, none runs to steer, an update was rejected. */
  refused: 3,
  /** Temporal cannot be reached, or its namespace does not exist. */
  unavailable: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the operator can act on; `run` prints its message and exits with its code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

/**
 * Temporal's client library (with its errors), loaded with the first client: commands that read only files
 * (`config check`) start without it. Until it is loaded, no error can have come from Temporal.
 */
let temporal: typeof TemporalClient | undefined;

/** What every command gets: output, environment, and a Temporal client made on first use. */
export class CliContext {
  private connection: Connection | undefined;
  private environment: CliEnvironment | undefined;
  private keys: Promise<CodecKeys | undefined> | undefined;
  exitCode: ExitCode = EXIT.ok;

  constructor(
    readonly io: CliIo,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  get config(): CliEnvironment {
    if (this.environment === undefined) {
      try {
        this.environment = readCliEnvironment(this.env);
      } catch (error) {
        if (error instanceof ValidationError) throw new CliError(error.message, EXIT.usage);
        throw error;
      }
    }
    return this.environment;
  }

  async client(): Promise<Client> {
    const { address, namespace, tls } = this.config.temporal;
    if (this.connection === undefined) {
      for (const { waiver, risk } of this.config.insecure)
        this.io.stderr(`rotator: warning: ROTATOR_ALLOW_INSECURE=${waiver}: ${risk}\n`);
      temporal ??= await import('@temporalio/client');
      try {
        this.connection = await temporal.Connection.connect({
          address,
          tls: await clientTls(tls),
          connectTimeout: '5 seconds',
        });
      } catch (error) {
        throw unreachable(address, error);
      }
    }
    temporal ??= await import('@temporalio/client');
    const { encryptedDataConverter } = await import('../codec/data-converter');
    return new temporal.Client({
      connection: this.connection,
      namespace,
      dataConverter: encryptedDataConverter(await this.codecKeys()),
    });
  }

  /** The payload codec's keys (ROTATOR_CODEC_KEYS_FILE or ROTATOR_CODEC_KEYS), read once; undefined if unset. */
  codecKeys(): Promise<CodecKeys | undefined> {
    this.keys ??= readCodecKeys(this.config.codec).catch((error: unknown) => {
      if (error instanceof ValidationError) throw new CliError(error.message, EXIT.usage);
      throw error;
    });
    return this.keys;
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }

  /** The inventory the worker rotates from (or `file`); an unreadable or invalid one stops the command. */
  async inventory(file: string = this.config.inventory): Promise<Inventory> {
    let text: string;
    try {
      text = await readInventoryText(file);
    } catch (error) {
      if (error instanceof InventoryTooLarge)
        throw new CliError(`the inventory ${file} is invalid: ${error.message}`, EXIT.usage);
      throw new CliError(
        `cannot read the inventory ${file} (${(error as NodeJS.ErrnoException).code ?? 'unknown error'}): ` +
          'set ROTATOR_INVENTORY to its path',
        EXIT.usage,
      );
    }
    const result = loadInventory(text);
    if (!result.ok) {
      const total = result.total ?? result.errors.length;
      throw new CliError(
        `the inventory ${file} is invalid (${total === 1 ? '1 error' : `${total} errors`}): run \`rotator config check ${file}\``,
        EXIT.usage,
      );
    }
    return result.inventory;
  }

  /** The credential with this id, or an error that names the inventory and the ids it holds. */
  async credential(id: string): Promise<Credential> {
    const inventory = await this.inventory();
    const found = inventory.credentials.find((credential) => credential.id === id);
    if (found !== undefined) return found;
    const known = inventory.credentials.map((credential) => credential.id);
    const shown = known.length > 10 ? `${known.slice(0, 10).join(', ')}, ...` : known.join(', ');
    throw new CliError(
      `no credential "${id}" in the inventory ${this.config.inventory} (it has: ${shown})`,
      EXIT.usage,
    );
  }

  /** Who the operator is: --requested-by, else $USER. */
  requester(given: string | undefined): string {
    const name = (given ?? this.config.user ?? '').trim();
    if (name === '') throw new CliError('--requested-by: required when USER is not set', EXIT.usage);
    return name;
  }

  /** The Temporal Web UI page of a workflow (its latest run, or the given one). */
  workflowUrl(workflowId: string, runId?: string): string {
    const { uiUrl, temporal } = this.config;
    const base = `${uiUrl}/namespaces/${encodeURIComponent(temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
    return runId === undefined ? base : `${base}/${encodeURIComponent(runId)}/history`;
  }

  /** Writes a document for scripts: one JSON value on stdout. */
  json(value: unknown): void {
    this.io.stdout(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** The CliError for an error the operator can act on (theirs, or Temporal's); undefined for a bug. */
  private known(error: unknown): CliError | undefined {
    if (error instanceof CliError) return error;
    // Without a configuration read, nothing has reached Temporal yet.
    if (this.environment === undefined) return undefined;
    const { address, namespace } = this.environment.temporal;
    if (temporal !== undefined && error instanceof temporal.NamespaceNotFoundError) {
      return new CliError(
        `Temporal at ${address} has no namespace "${namespace}": set TEMPORAL_NAMESPACE`,
        EXIT.unavailable,
      );
    }
    const code = grpcCode(error);
    if (code === GRPC.deadlineExceeded)
      return new CliError(
        `Temporal at ${address} did not answer in time (${messageOf(error)}): it is overloaded or going away; ` +
          'run the command again',
        EXIT.unavailable,
      );
    // The server went away after the connection was made.
    return code === GRPC.unavailable ? unreachable(address, error) : undefined;
  }

  /**
   * Runs a command's body: prints an error's message on stderr and records its exit code. Errors that are
   * neither the operator's nor Temporal's are bugs, and keep their stack.
   */
  action<A extends unknown[]>(body: (...args: A) => Promise<ExitCode>) {
    return async (...args: A): Promise<void> => {
      try {
        this.exitCode = await body(...args);
      } catch (error) {
        const known = this.known(error);
        if (known === undefined) throw error;
        this.io.stderr(`rotator: ${known.message}\n`);
        this.exitCode = known.exitCode;
      }
    };
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

function unreachable(address: string, error: unknown): CliError {
  return new CliError(
    `cannot reach Temporal at ${address} (${messageOf(error)}): start it, or set TEMPORAL_ADDRESS to its host:port`,
    EXIT.unavailable,
  );
}

/** The gRPC status codes the CLI tells apart. */
const GRPC = { deadlineExceeded: 4, resourceExhausted: 8, unavailable: 14 } as const;

/** The gRPC status code of a failed Temporal call (the error's, or its cause's); undefined for other errors. */
function grpcCode(error: unknown): number | undefined {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  for (const candidate of [error, cause])
    if (temporal?.isGrpcServiceError(candidate) === true) return candidate.code;
  return undefined;
}

/** How often `patiently` tries a call, and its first pause (doubled after each try). */
export const PATIENT_ATTEMPTS = 5;
const PATIENT_FIRST_PAUSE_MS = 500;

/**
 * Runs a Temporal call again while the server answers that it is busy (deadline exceeded, resource
 * exhausted, unavailable), up to PATIENT_ATTEMPTS times: for calls that are safe to repeat, such as the
 * thousands `schedules sync` makes against a server that is also running rotations.
 */
export async function patiently<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      const code = grpcCode(error);
      const busy =
        code === GRPC.deadlineExceeded || code === GRPC.resourceExhausted || code === GRPC.unavailable;
      if (!busy || attempt >= PATIENT_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, PATIENT_FIRST_PAUSE_MS * 2 ** (attempt - 1)));
    }
  }
}

/** The TLS files, read; one that cannot be read is a usage error naming its variable. */
function clientTls(tls: CliEnvironment['temporal']['tls']) {
  return temporalTlsConfig(tls, async (file, variable) => {
    try {
      return await readFile(file);
    } catch (error) {
      throw new CliError(
        `cannot read ${variable} ${file} (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`,
        EXIT.usage,
      );
    }
  });
}

/** Parses a command's options with zod; a problem becomes a usage error naming the option. */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = validate(schema, input);
  if (!result.success) {
    // Options are named as typed: requestedBy is --requested-by.
    const option = (path: PropertyKey[]) =>
      path.length === 0
        ? 'arguments'
        : `--${String(path[0])
            .replace(/([a-z])([A-Z])/g, '$1-$2')
            .toLowerCase()}`;
    throw new CliError(
      problemsIn(result.error)
        .map((problem) => `${option(problem.path)}: ${problem.message}`)
        .join('; '),
      EXIT.usage,
    );
  }
  return result.data;
}

/** Adds the options every command has. */
export function withJson(command: Command): Command {
  return command.option('--json', 'print one JSON document on stdout, for scripts');
}

/** A run of a rotation as visibility knows it: enough for the status table and the history. */
export interface RotationRun {
  workflowId: string;
  runId: string;
  /** `running`, or how it closed: the outcome it recorded, else Temporal's status (`terminated`, ...). */
  state: string;
  phase?: string;
  outcome?: string;
  startedAt: string;
  closedAt?: string;
}

export function rotationRun(info: WorkflowExecutionInfo): RotationRun {
  const outcome = info.typedSearchAttributes.get(ROTATION_OUTCOME);
  const phase = info.typedSearchAttributes.get(ROTATION_PHASE);
  const running = info.status.name === 'RUNNING';
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    state: running ? 'running' : (outcome ?? info.status.name.toLowerCase().replace(/_/g, '-')),
    ...(phase === undefined ? {} : { phase }),
    ...(outcome === undefined ? {} : { outcome }),
    startedAt: info.startTime.toISOString(),
    ...(info.closeTime === undefined ? {} : { closedAt: info.closeTime.toISOString() }),
  };
}

/** The rotations of a credential that visibility knows, break-glass ones too (by their workflow id), newest first. */
export async function rotationRuns(client: Client, credentialId: string): Promise<RotationRun[]> {
  const runs: RotationRun[] = [];
  const query =
    `CredentialId = ${JSON.stringify(credentialId)} AND ` +
    'WorkflowType IN ("rotateCredential", "breakGlass")';
  for await (const info of client.workflow.list({ query })) runs.push(rotationRun(info));
  return runs.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

/** Whether a not-found from Temporal means "nothing to act on" rather than a bug. */
export function isNotFound(error: unknown): boolean {
  return (
    temporal !== undefined &&
    (error instanceof temporal.WorkflowNotFoundError || error instanceof temporal.ScheduleNotFoundError)
  );
}

/** Rows as aligned columns under a heading; the last column is not padded. */
export function table(heading: string[], rows: string[][]): string {
  const widths = heading.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(heading), ...rows.map(line)].join('\n') + '\n';
}

/** A moment as operators read it in a table: UTC to the second. */
export function moment(iso: string | undefined): string {
  return iso === undefined ? '-' : iso.replace(/\.\d+Z$/, 'Z');
}
