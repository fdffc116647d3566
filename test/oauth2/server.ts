import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { recordMintedValue } from '../infra/secret-scan';

/** The answer of a refresh grant, as a test sees it. */
export interface GrantAnswer {
  status: number;
  body: { access_token?: string; refresh_token?: string; error?: string };
}

/**
 * A real OAuth2 authorization server (oidc-provider, refresh-token rotation on) in its own process, with one
 * confidential client; `close` stops it.
 */
export async function startAuthorizationServer() {
  const clientId = 'ci-pipelines';
  const clientSecret = randomBytes(18).toString('base64url');
  recordMintedValue(clientSecret);
  const child = spawn(process.execPath, [join(__dirname, 'authorization-server.mjs')], {
    env: { PATH: process.env.PATH ?? '', CLIENT_ID: clientId, CLIENT_SECRET: clientSecret },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const port = await new Promise<number>((ready, failed) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const listening = /listening (\d+)/.exec(output);
      if (listening) ready(Number(listening[1]));
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('exit', (code) => failed(new Error(`the authorization server exited (${code}): ${output}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
  const form = async (path: string, fields: Record<string, string>, base = url) => {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
    return {
      status: response.status,
      body: (await response.json()) as GrantAnswer['body'] & { active?: boolean },
    };
  };
  return {
    url,
    clientId,
    clientSecret,
    /** What a person authorising the client in a browser would leave us with: the first refresh token. */
    async authorise(): Promise<string> {
      const response = await fetch(`${url}/test/grant`, { method: 'POST' });
      const { refresh_token: refreshToken } = (await response.json()) as { refresh_token: string };
      recordMintedValue(refreshToken);
      return refreshToken;
    },
    /** A refresh grant made by someone else, such as a thief holding a copy of the refresh token. */
    async refresh(refreshToken: string): Promise<GrantAnswer> {
      const answer = await form('/token', { grant_type: 'refresh_token', refresh_token: refreshToken });
      for (const value of [answer.body.access_token, answer.body.refresh_token]) {
        if (value !== undefined) recordMintedValue(value);
      }
      return answer;
    },
    /** Whether the server holds the token active (RFC 7662). */
    async active(token: string): Promise<boolean> {
      return (await form('/token/introspection', { token })).body.active === true;
    },
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

export type AuthorizationServer = Awaited<ReturnType<typeof startAuthorizationServer>>;
