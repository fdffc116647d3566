import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { listen } from './listening';
import type { Logger } from './logging';
import type { VaultTokenSource } from './vault';

/** One dependency /readyz checks: resolves when it is usable, rejects with the reason when not. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

/** How long one check may take before /readyz counts its dependency as down. */
const CHECK_TIMEOUT_MS = 3_000;

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The probes' JSON: which dependency is down and why, never a credential. */
export interface Readiness {
  status: 'ready' | 'not ready';
  checks: Record<string, string>;
  down: string[];
}

export async function readiness(checks: ReadinessCheck[]): Promise<Readiness> {
  const results = await Promise.all(
    checks.map(async ({ name, check }) => {
      try {
        await withTimeout(check());
        return [name, 'ok'] as const;
      } catch (error) {
        return [name, error instanceof Error ? error.message : String(error)] as const;
      }
    }),
  );
  const down = results.filter(([, result]) => result !== 'ok').map(([name]) => name);
  return { status: down.length === 0 ? 'ready' : 'not ready', checks: Object.fromEntries(results), down };
}

/** Temporal is usable when the worker is polling and the frontend answers. */
export function temporalCheck(
  worker: Pick<Worker, 'getState'>,
  connection: NativeConnection,
): ReadinessCheck {
  return {
    name: 'temporal',
    async check() {
      const state = worker.getState();
      if (state !== 'RUNNING') throw new Error(`worker is ${state.toLowerCase()}`);
      await connection.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () =>
        connection.workflowService.getSystemInfo({}),
      );
    },
  };
}

/** A GET to Vault's HTTP API; `token` only where the endpoint needs one. */
export async function vaultGet(
  vault: { address: string; caCert?: string },
  path: string,
  token?: string,
): Promise<{ status: number; body: unknown }> {
  const url = new URL(`/v1/${path}`, vault.address);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        headers: token === undefined ? {} : { 'X-Vault-Token': token },
        ...(vault.caCert === undefined ? {} : { ca: vault.caCert }),
        timeout: CHECK_TIMEOUT_MS,
      },
      (response: IncomingMessage) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: response.statusCode ?? 0, body });
        });
        response.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Vault is usable when it is initialised and unsealed (a standby node forwards requests, so it counts) and,
 * given the worker's `token`, still accepts it: a revoked token or a failing AppRole login makes it not ready.
 */
export function vaultCheck(vault: {
  address: string;
  caCert?: string;
  token?: VaultTokenSource;
}): ReadinessCheck {
  return {
    name: 'vault',
    async check() {
      const { status, body } = await vaultGet(vault, 'sys/health?standbyok=true');
      if (status !== 200) {
        const health = (body ?? {}) as { initialized?: boolean; sealed?: boolean };
        if (health.sealed === true) throw new Error('sealed');
        if (health.initialized === false) throw new Error('not initialised');
        throw new Error(`sys/health answered HTTP ${status}`);
      }
      if (vault.token === undefined) return;
      const lookup = await vaultGet(vault, 'auth/token/lookup-self', await vault.token.current());
      if (lookup.status !== 200)
        throw new Error(`the worker's token is refused: lookup-self answered HTTP ${lookup.status}`);
    },
  };
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/**
 * `/healthz` answers while the process can serve HTTP at all; `/readyz` runs every check and answers 503
 * naming what is down, so that an orchestrator stops routing to, or restarts, a worker that cannot rotate.
 */
export async function startHealthServer(options: {
  port: number;
  host?: string;
  checks: ReadinessCheck[];
  logger: Logger;
}): Promise<HealthServer> {
  const { checks, logger } = options;
  let lastDown = '';
  const server: Server = createServer((req, res) => {
    const reply = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, { error: 'method not allowed' });
    if (path === '/healthz') return reply(200, { status: 'alive' });
    if (path !== '/readyz') return reply(404, { error: 'not found' });
    void readiness(checks).then((result) => {
      // Logged on change only: probes come every few seconds.
      const down = result.down.join(',');
      if (down !== lastDown) {
        if (down === '') logger.info({ checks: result.checks }, 'ready: every dependency answers');
        else logger.warn({ checks: result.checks, down: result.down }, `not ready: ${down} down`);
        lastDown = down;
      }
      reply(result.down.length === 0 ? 200 : 503, result);
    });
  });
  return listen(server, options.port, options.host);
}
