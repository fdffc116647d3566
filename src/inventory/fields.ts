import { z } from 'zod';
import { TARGET_FIELDS } from '../stored-secret';

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** A name operators type and other entries refer to: lowercase letters, digits and single hyphens. */
export function slug(example: string) {
  const expected = `expected a slug such as "${example}": lowercase letters, digits and single hyphens`;
  return z.string({ error: expected }).max(63, 'expected at most 63 characters').regex(SLUG, expected);
}

const EXPECTED_URL = 'expected an https URL (plain http only to localhost)';
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The URL, or undefined for text z.url has already reported as no URL at all. */
function parsed(text: string): URL | undefined {
  return URL.canParse(text) ? new URL(text) : undefined;
}

/** Tokens travel to these URLs, so plain http is accepted only to a server on this machine (tests, sidecars). */
export const serverUrl = z
  .url({ protocol: /^https?$/, error: EXPECTED_URL })
  .refine((text) => {
    const url = parsed(text);
    return url?.protocol !== 'http:' || LOCAL_HOSTS.has(url.hostname);
  }, EXPECTED_URL)
  .refine((text) => {
    const url = parsed(text);
    return url === undefined || (url.username === '' && url.password === '');
  }, 'expected a URL without a user name or password: credentials come from Vault');

/** A list where a repeated entry is a mistake (scopes, repositories): names the index of each repeat. */
export function distinctList<T extends z.ZodType>(item: T, what: string) {
  return z.array(item).superRefine((items, ctx) => {
    items.forEach((entry, index) => {
      if (items.indexOf(entry) !== index) {
        ctx.addIssue({ code: 'custom', path: [index], message: `repeats an earlier ${what}` });
      }
    });
  });
}

/** Which field of the credential's secret a target receives: every target entry has it (see defineTarget). */
export const targetField = z
  .enum(TARGET_FIELDS)
  .default('token')
  .describe(
    "which field of the credential's secret the target receives: token (the value), or username for a " +
      'source that has one (a GitLab deploy token)',
  );
