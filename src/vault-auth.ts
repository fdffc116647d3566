import { readFile } from 'node:fs/promises';
import type createVaultClient from 'node-vault';
import { z } from 'zod';
import type { Logger } from './logging';
import { parseOrThrow } from './validation';
import { VaultError, toVaultError, vaultClient, withToken, type VaultTokenSource } from './vault';

/** How the worker logs in with AppRole: VAULT_ADDR, VAULT_CACERT, VAULT_ROLE_ID and VAULT_SECRET_ID_FILE. */
export interface AppRoleLogin {
  endpoint: string;
  caCert?: string;
  roleId: string;
  /** Read at each login, so that an operator can put a new secret id in place without a restart. */
  secretIdFile: string;
}

/** Vault's answer to a login and to a renewal alike: the token, its accessor, and how long it lives now. */
const authAnswerSchema = z.object({
  auth: z.object({
    client_token: z.string().min(1),
    accessor: z.string().min(1),
    lease_duration: z.number().int().nonnegative(),
    renewable: z.boolean(),
  }),
});

/** The token the session holds, only in this process's memory. */
interface Lease {
  token: string;
  /** Names the token in logs and tests without revealing it. */
  accessor: string;
  renewable: boolean;
  /** The TTL the login granted; a renewal that grants less has hit the token's max TTL. */
  loginTtlMs: number;
  /** The TTL of the last login or renewal. */
  ttlMs: number;
  /** Infinity for a token without a TTL. */
  expiresAt: number;
}

/** Renew (or log in again) once this share of the token's TTL has passed. */
const RENEW_AT = 2 / 3;
/** A token this close to expiry is not handed out: a call started with it could arrive too late. */
const EXPIRY_MARGIN_MS = 1_000;
/** After a failed background renewal and login, try again this soon (or sooner, if the token expires first). */
const RETRY_MS = 5_000;

/**
 * The worker's Vault token from an AppRole login, kept valid for as long as the worker runs: renewed at two
 * thirds of its TTL, and replaced by a new login when renewal fails, when the token is not renewable, or when
 * it reaches its max TTL. Every Vault user in the process asks `current()` before each call.
 */
export class AppRoleSession implements VaultTokenSource {
  private readonly client: createVaultClient.client;
  private lease: Lease | undefined;
  private loggingIn: Promise<Lease> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly login: AppRoleLogin,
    private readonly logger: Logger,
  ) {
    this.client = vaultClient(login.endpoint, login.caCert);
  }

  /** Logs in once before returning, so that a worker with a wrong role or secret id stops at start. */
  static async start(login: AppRoleLogin, logger: Logger): Promise<AppRoleSession> {
    const session = new AppRoleSession(login, logger);
    await session.logIn();
    return session;
  }

  async current(): Promise<string> {
    if (this.closed)
      throw new VaultError('Vault AppRole session is closed: the worker has stopped', undefined, false);
    const lease = this.lease;
    if (lease !== undefined && Date.now() < lease.expiresAt - EXPIRY_MARGIN_MS) return lease.token;
    // The timer did not run in time (a suspended process, a long outage): log in now.
    return (await this.logIn()).token;
  }

  /** The current token's accessor. */
  get accessor(): string | undefined {
    return this.lease?.accessor;
  }

  /** Stops renewing and revokes the token, which nobody needs once the worker has stopped. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const lease = this.lease;
    this.lease = undefined;
    if (lease === undefined) return;
    try {
      await this.client.write('auth/token/revoke-self', {}, withToken(lease.token));
    } catch (error) {
      // It expires at its TTL anyway.
      this.logger.warn(
        {
          accessor: lease.accessor,
          reason: toVaultError('Vault token revoke', this.login.endpoint, error).message,
        },
        "cannot revoke the worker's Vault token at shutdown; it expires at its TTL",
      );
    }
  }

  /** One login at a time: calls that find the token expired together share it. */
  private logIn(): Promise<Lease> {
    this.loggingIn ??= this.requestLogin().finally(() => (this.loggingIn = undefined));
    return this.loggingIn;
  }

  private async requestLogin(): Promise<Lease> {
    const what = 'Vault AppRole login';
    const secretId = await this.readSecretId(what);
    let answer: unknown;
    try {
      answer = await this.client.write('auth/approle/login', {
        role_id: this.login.roleId,
        secret_id: secretId,
      });
    } catch (error) {
      throw toVaultError(what, this.login.endpoint, error);
    }
    const { auth } = parseOrThrow(authAnswerSchema, answer, `Vault's answer to the AppRole login`);
    const ttlMs = auth.lease_duration * 1000;
    const lease = this.hold({
      token: auth.client_token,
      accessor: auth.accessor,
      renewable: auth.renewable,
      loginTtlMs: ttlMs,
      ttlMs,
      expiresAt: expiry(ttlMs),
    });
    this.logger.info(
      { accessor: auth.accessor, ttlSeconds: auth.lease_duration, renewable: auth.renewable },
      'logged in to Vault with AppRole',
    );
    return lease;
  }

  private async readSecretId(what: string): Promise<string> {
    const file = this.login.secretIdFile;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new VaultError(
        `${what} failed: cannot read VAULT_SECRET_ID_FILE ${file} (${code})`,
        undefined,
        false,
      );
    }
    // Files written by `echo` or an editor end with a newline that is not part of the secret id.
    const secretId = text.trim();
    if (secretId === '')
      throw new VaultError(`${what} failed: VAULT_SECRET_ID_FILE ${file} is empty`, undefined, false);
    return secretId;
  }

  private async renew(lease: Lease): Promise<Lease> {
    let answer: unknown;
    try {
      answer = await this.client.write('auth/token/renew-self', {}, withToken(lease.token));
    } catch (error) {
      throw toVaultError('Vault token renewal', this.login.endpoint, error);
    }
    const { auth } = parseOrThrow(authAnswerSchema, answer, `Vault's answer to the token renewal`);
    const ttlMs = auth.lease_duration * 1000;
    this.logger.debug(
      { accessor: lease.accessor, ttlSeconds: auth.lease_duration },
      'renewed the Vault token',
    );
    return this.hold({ ...lease, renewable: auth.renewable, ttlMs, expiresAt: expiry(ttlMs) });
  }

  /** Makes `lease` the current one and plans its renewal. */
  private hold(lease: Lease): Lease {
    if (this.closed) return lease;
    this.lease = lease;
    clearTimeout(this.timer);
    if (Number.isFinite(lease.expiresAt)) this.schedule(lease.ttlMs * RENEW_AT);
    return lease;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.keepFresh(), delayMs);
    // The session must not keep a stopping worker alive.
    this.timer.unref();
  }

  private async keepFresh(): Promise<void> {
    const lease = this.lease;
    if (lease === undefined || this.closed) return;
    // A renewal granting less than the login did has hit the max TTL: renewing again could only shrink it.
    if (lease.renewable && lease.ttlMs >= lease.loginTtlMs) {
      try {
        await this.renew(lease);
        return;
      } catch (error) {
        this.logger.warn(
          { accessor: lease.accessor, reason: (error as Error).message },
          'cannot renew the Vault token: logging in with AppRole again',
        );
      }
    }
    try {
      await this.logIn();
    } catch (error) {
      const left = lease.expiresAt - Date.now();
      this.logger.error(
        {
          accessor: lease.accessor,
          reason: (error as Error).message,
          expiresInSeconds: Math.round(left / 1000),
        },
        'cannot log in to Vault with AppRole: trying again',
      );
      if (!this.closed) this.schedule(Math.max(250, Math.min(RETRY_MS, left / 2)));
    }
  }
}

function expiry(ttlMs: number): number {
  // Vault gives a token without expiry (such as a periodic token's parent) a TTL of 0.
  return ttlMs === 0 ? Infinity : Date.now() + ttlMs;
}
