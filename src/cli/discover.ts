import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { discover, type Found, type Listing } from '../discovery';
import { proposal } from '../discovery/propose';
import { ownerLabel } from '../discovery/types';
import { githubRepository } from '../inventory/github';
import { gitlabGroup } from '../inventory/gitlab';
import { PLACEHOLDER, type Watched } from '../inventory/discovery';
import type { Inventory } from '../inventory/schema';
import { ProviderError } from '../providers/errors';
import { openStores } from '../stores';
import { storedFieldReader } from '../stores/read-field';
import { StoreError } from '../stores/store';
import { CliContext, CliError, EXIT, parseOptions, table, withJson } from './context';
import { vaultOf } from './verify-state';

const optionsSchema = z
  .object({
    gitlab: z.string().min(1).optional(),
    group: gitlabGroup.optional(),
    github: z.string().min(1).optional(),
    org: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'expected a GitHub organization name')
      .optional(),
    repo: githubRepository.optional(),
    json: z.boolean().optional(),
    propose: z.string().min(1).optional(),
    select: z
      .string()
      .regex(/^(all|\d+(,\d+)*)$/, 'expected "all" or row numbers such as 1,4,7')
      .optional(),
  })
  .strict()
  .superRefine((options, ctx) => {
    const problem = (path: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message });
    if ((options.gitlab === undefined) === (options.github === undefined))
      problem('gitlab', 'expected --gitlab NAME --group PATH, or --github NAME with --org or --repo');
    if (options.gitlab !== undefined && options.group === undefined)
      problem('group', 'required with --gitlab');
    if (options.gitlab !== undefined && (options.org ?? options.repo) !== undefined)
      problem(options.org === undefined ? 'repo' : 'org', 'allowed only with --github');
    if (options.github !== undefined && (options.org === undefined) === (options.repo === undefined))
      problem('org', 'expected --org or --repo with --github, not both');
    if (options.github !== undefined && options.group !== undefined)
      problem('group', 'allowed only with --gitlab');
    if (options.propose !== undefined && options.select === undefined)
      problem('select', 'required with --propose: the row numbers of the table, or all');
    if (options.select !== undefined && options.propose === undefined)
      problem('propose', 'required with --select: the file the draft is written to');
  });
type Options = z.output<typeof optionsSchema>;

/** What the options ask to look at, its provider checked against the inventory. */
function watchedOf(options: Options, inventory: Inventory): Watched {
  const [kind, name] =
    options.gitlab === undefined
      ? (['github', options.github ?? ''] as const)
      : (['gitlab', options.gitlab] as const);
  const defined = Object.keys(inventory.providers[kind]);
  if (!defined.includes(name))
    throw new CliError(
      `--${kind}: no provider "${name}" under providers.${kind} of the inventory ` +
        (defined.length === 0 ? '(none is defined)' : `(defined: ${defined.join(', ')})`),
      EXIT.usage,
    );
  if (options.gitlab !== undefined) return { gitlab: name, group: options.group ?? '' };
  return options.org === undefined
    ? { github: name, repository: options.repo ?? '' }
    : { github: name, organization: options.org };
}

/** The rows `--select` names (1-based, as the table numbers them); a number past the table names the flag. */
function chosen(select: string, rows: Found[]): Found[] {
  if (select === 'all') return rows;
  return [...new Set(select.split(',').map(Number))].map((n) => {
    const row = rows[n - 1];
    if (row === undefined)
      throw new CliError(
        `--select: ${n} is not a row of the table (it has ${rows.length === 0 ? 'none' : `1 to ${rows.length}`})`,
        EXIT.usage,
      );
    return row;
  });
}

const day = (iso: string | null | undefined) =>
  iso === undefined ? '-' : iso === null ? 'never' : iso.slice(0, 10);

function noteOf(found: Found): string {
  const notes = [
    ...(found.looksLikeToken === undefined ? [] : [`looks like a token: ${found.looksLikeToken}`]),
    ...(found.note === undefined ? [] : [found.note]),
  ];
  return notes.join('; ') || '-';
}

function render(unmanaged: Found[], listing: Listing): string {
  const managed = listing.found.length - unmanaged.length;
  const rows = unmanaged.map((found, index) => [
    String(index + 1),
    found.kind,
    ownerLabel(found.owner),
    found.name,
    found.scopes?.join(',') ?? '-',
    day(found.expiresAt),
    day(found.lastUsedAt),
    noteOf(found),
  ]);
  return (
    table(['#', 'KIND', 'RESOURCE', 'NAME', 'SCOPES', 'EXPIRES', 'LAST USED', 'NOTE'], rows) +
    listing.notListed.map((line) => `${line}\n`).join('') +
    `\n${unmanaged.length} not managed by the inventory; ${managed} managed (not shown)\n`
  );
}

export function registerDiscover(program: Command, cli: CliContext): void {
  withJson(
    program
      .command('discover')
      .summary('list the tokens and CI variables a provider holds that the inventory does not manage')
      .description(
        'list the access tokens and CI/CD variables of a GitLab group (its subgroups and projects too), or the ' +
          'Actions secrets of a GitHub organization or repository, that no credential of the inventory names: ' +
          'kind, place, name, scopes, expiry, last use, and which variables look like they hold a token (never ' +
          'a value). With --propose, writes a draft of inventory credentials for the chosen rows. Reads the ' +
          "provider's admin token from its store (VAULT_ADDR, VAULT_TOKEN). See docs/discovery.md",
      )
      .option('--gitlab <name>', 'the GitLab provider under providers.gitlab')
      .option('--group <path>', 'with --gitlab: the group, by path or id')
      .option('--github <name>', 'the GitHub provider under providers.github')
      .option('--org <org>', 'with --github: the organization (its secrets and every repository’s)')
      .option('--repo <owner/name>', 'with --github: one repository')
      .option('--propose <file>', 'write a draft of inventory credentials for the --select rows to this file')
      .option('--select <rows>', 'with --propose: row numbers of the table (1,4,7), or all'),
  ).action(
    cli.action(async (raw: unknown) => {
      const options = parseOptions(optionsSchema, raw);
      const inventory = await cli.inventory();
      const watched = watchedOf(options, inventory);
      const stores = openStores({ vault: await vaultOf(cli.env, 'discover') });
      let listing: Listing;
      try {
        listing = await discover(inventory, watched, storedFieldReader(stores));
      } catch (error) {
        if (error instanceof ProviderError || error instanceof StoreError)
          throw new CliError(`discovery failed: ${error.message}`, EXIT.failed);
        throw error;
      }
      const unmanaged = listing.found.filter((found) => found.managedBy === undefined);
      if (options.propose !== undefined) {
        const draft = proposal(
          chosen(options.select ?? '', unmanaged),
          inventory.credentials.map(({ id }) => id),
          new Date().toISOString().slice(0, 10),
        );
        await writeFile(options.propose, draft).catch((error: unknown) => {
          const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
          throw new CliError(`--propose: cannot write ${options.propose} (${code})`, EXIT.usage);
        });
      }
      if (options.json === true)
        cli.json({
          unmanaged,
          managed: listing.found.filter((found) => found.managedBy !== undefined),
          notListed: listing.notListed,
        });
      else {
        cli.io.stdout(render(unmanaged, listing));
        if (options.propose !== undefined)
          cli.io.stdout(
            `draft written to ${options.propose}: fill in every ${PLACEHOLDER}, then \`rotator config check\`\n`,
          );
      }
      return EXIT.ok;
    }),
  );
}
