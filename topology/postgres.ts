import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseOrThrow } from '../src/validation';
import { privateDir, randomSecret, writePrivate } from './files';
import { freePort, run, startService, waitFor, type RunAs, type Service } from './process';

export interface Postgres {
  host: string;
  port: number;
  /** The superuser initdb made; Temporal creates its databases with it. */
  user: string;
  password: string;
  dataDir: string;
  /** Whom the server runs as. */
  osUser: string;
  service: Service;
}

const USER = 'temporal';

/** The two variables the tooling reads: where PostgreSQL's binaries are, and whom it runs as under root. */
const variablesSchema = z.object({
  POSTGRES_BIN: z.string().min(1).optional(),
  POSTGRES_OS_USER: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/, 'expected a user name such as postgres')
    .default('postgres'),
});
type Variables = z.output<typeof variablesSchema>;

/**
 * Debian's binaries live outside PATH, one folder per major version: POSTGRES_BIN names one, else the newest
 * installed is used.
 */
function postgresBin(env: Variables): string {
  if (env.POSTGRES_BIN !== undefined) return env.POSTGRES_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((version) => existsSync(join(root, version, 'bin/initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] === undefined)
    throw new Error(`no PostgreSQL under ${root}: install postgresql (Debian) or set POSTGRES_BIN`);
  return join(root, versions[0], 'bin');
}

/**
 * initdb and postgres refuse to run as root. Run as root, the tooling runs them as POSTGRES_OS_USER (default
 * `postgres`, which Debian's package creates); otherwise as the current user.
 */
function runAs(env: Variables): { name: string; ids?: RunAs } {
  const name = env.POSTGRES_OS_USER;
  if (process.getuid?.() !== 0) return { name: process.env.USER ?? 'the current user' };
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  try {
    return { name, ids: { uid: id('-u'), gid: id('-g') } };
  } catch {
    throw new Error(`PostgreSQL cannot run as root and there is no user ${name}: set POSTGRES_OS_USER`);
  }
}

/**
 * Creates a cluster in `dir` (owned by the server's user, 0700) with a superuser whose random password is
 * needed for every connection (scram-sha-256, no trust), and starts it on a free loopback port without a Unix
 * socket.
 */
export async function startPostgres(
  dir: string,
  environment: NodeJS.ProcessEnv = process.env,
): Promise<Postgres> {
  // An empty variable means the same as an unset one, as for the worker.
  const env = parseOrThrow(
    variablesSchema,
    Object.fromEntries(Object.entries(environment).filter(([, value]) => value !== '')),
    'the PostgreSQL settings of npm run topology',
  );
  const bin = postgresBin(env);
  const user = runAs(env);
  privateDir(dir);
  // Run as another user, the server must reach its cluster, and a checkout's folder (under a private
  // mktemp folder, say) may be closed to it: the cluster then lives in a folder of its own under the
  // system's temporary folder, removed when the server stops.
  const home = user.ids === undefined ? dir : mkdtempSync(join(tmpdir(), 'rotator-postgres-'));
  if (user.ids !== undefined) chownSync(home, user.ids.uid, user.ids.gid);
  const dataDir = join(home, 'data');
  const password = randomSecret();
  // initdb reads the password from a file only its user can read, deleted at once.
  const passwordFile = writePrivate(join(home, 'initdb-password'), password);
  if (user.ids !== undefined) chownSync(passwordFile, user.ids.uid, user.ids.gid);
  try {
    await run(
      join(bin, 'initdb'),
      [
        `--pgdata=${dataDir}`,
        `--username=${USER}`,
        `--pwfile=${passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
      ],
      { runAs: user.ids, cwd: home },
    );
  } finally {
    rmSync(passwordFile, { force: true });
  }
  const port = await freePort();
  const service = startService(
    'PostgreSQL',
    join(bin, 'postgres'),
    [
      '-D',
      dataDir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `port=${port}`,
      '-c',
      'unix_socket_directories=',
    ],
    join(dir, 'postgres.log'),
    { runAs: user.ids, cwd: home },
  );
  if (home !== dir) {
    const stop = service.stop;
    service.stop = async () => {
      await stop();
      rmSync(home, { recursive: true, force: true });
    };
  }
  // `pg_isready` answers before the password matters: ready once it accepts connections.
  await waitFor(
    service,
    async () => (await run(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]), true),
    30_000,
  );
  return { host: '127.0.0.1', port, user: USER, password, dataDir, osUser: user.name, service };
}
