/*
 * The libraries only a call needs, loaded by that call. The inventory's kinds and stores hold their clients,
 * so without this a command that only reads files (`config check`) loads the clients of Vault, AWS, GitLab
 * and GitHub, and the YAML parser that only errors need: 0.2 s of its 1.35 s for 10,000 credentials. A test
 * (test/cli/command-modules.test.ts) fails if `config check` of a valid inventory loads any of them.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a static import loads the library with this file */

/** `load`'s answer, got once, when first asked for. */
export function onFirstUse<T>(load: () => T): () => T {
  let loaded: { value: T } | undefined;
  return () => (loaded ??= { value: load() }).value;
}

export const nodeVault = onFirstUse((): typeof import('node-vault') => require('node-vault'));
export const awsSecretsManager = onFirstUse((): typeof import('@aws-sdk/client-secrets-manager') =>
  require('@aws-sdk/client-secrets-manager'),
);
export const gitbeaker = onFirstUse((): typeof import('@gitbeaker/rest') => require('@gitbeaker/rest'));
export const gitbeakerRequester = onFirstUse((): typeof import('@gitbeaker/requester-utils') =>
  require('@gitbeaker/requester-utils'),
);
/** pino: `config check` and other commands that read only files write no log. */
export const pinoLibrary = onFirstUse((): typeof import('pino') => require('pino'));
export const octokit = onFirstUse((): typeof import('@octokit/rest') => require('@octokit/rest'));
/** `yaml`, which keeps every node's position: an inventory is parsed with it only to explain an error. */
export const yamlDocuments = onFirstUse((): typeof import('yaml') => require('yaml'));
