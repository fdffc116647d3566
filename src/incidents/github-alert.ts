import { z } from 'zod';
import { GitHubClient, parseAnswer } from '../github/client';
import type { Inventory } from '../inventory/schema';
import type { StoredField } from '../stores';

/** A secret scanning alert's REST URL, as webhooks give it in `alert.url`. */
const ALERT_PATH = /^\/repos\/([^/]+)\/([^/]+)\/secret-scanning\/alerts\/(\d+)$/;

const alertAnswerSchema = z.object({ secret: z.string().min(1) });

/** The leaked value of the alert at `alertUrl`; the caller fingerprints it and lets it go. */
export type AlertSecretFetcher = (alertUrl: string) => Promise<string>;

/**
 * Fetches a secret scanning alert's value with `GET /repos/{owner}/{repo}/secret-scanning/alerts/{number}`
 * (webhook payloads never carry it), through the inventory's GitHub provider whose `apiUrl` the alert's URL
 * starts with, with that provider's admin token (and its fallback on a 401). The token needs the `repo` or
 * `security_events` scope, or an App's `secret_scanning_alerts` read permission.
 */
export function alertSecretFetcher(
  providers: () => Inventory['providers']['github'] | Promise<Inventory['providers']['github']>,
  adminSecret: (at: StoredField) => Promise<string>,
): AlertSecretFetcher {
  return async (alertUrl) => {
    const github = Object.entries(await providers());
    const found = github.find(([, { apiUrl }]) => alertUrl.startsWith(`${apiUrl.replace(/\/+$/, '')}/`));
    if (found === undefined)
      throw new Error(
        `no GitHub provider of the inventory serves the alert ${alertUrl}: ` +
          `providers.github has ${github.map(([name, { apiUrl }]) => `${name} (${apiUrl})`).join(', ') || 'none'}`,
      );
    const [, provider] = found;
    const path = new URL(alertUrl).pathname.slice(
      new URL(provider.apiUrl).pathname.replace(/\/+$/, '').length,
    );
    const [, owner = '', repo = '', number = ''] = ALERT_PATH.exec(path) ?? [];
    if (number === '') throw new Error(`${alertUrl} is not a secret scanning alert's REST URL`);
    const client = new GitHubClient({
      url: provider.apiUrl,
      token: await adminSecret(provider.credential),
      ...(provider.fallbackCredential === undefined
        ? {}
        : { fallbackToken: await adminSecret(provider.fallbackCredential) }),
    });
    const site = { step: 'fetch secret scanning alert', resource: `${owner}/${repo} alert ${number}` };
    const answer = await client.call(site, (api) =>
      api.rest.secretScanning.getAlert({ owner, repo, alert_number: Number(number) }),
    );
    return parseAnswer(alertAnswerSchema, answer.data, site).secret;
  };
}
