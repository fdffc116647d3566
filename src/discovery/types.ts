/**
 * What `rotator discover` finds at a provider: tokens and the CI variables or secrets that may hold one.
 * Never a value: a variable's value is looked at for its shape only, and only the reason is kept.
 */

/** Where a found token or variable lives, as the inventory names it. */
export type FoundOwner =
  | { scope: 'project'; id: number; path: string }
  | { scope: 'group'; id: number; path: string }
  /** A top-level group's service account (`userId`): the group's id and path. */
  | { scope: 'service-account'; id: number; path: string; userId: number }
  | { scope: 'user'; id: number }
  | { scope: 'repository'; repository: string }
  | { scope: 'organization'; organization: string };

export interface Found {
  /** The provider's name under `providers:` in the inventory. */
  provider: string;
  /** The inventory kind it would be: a source kind for a token, a target kind for a variable or secret. */
  kind: string;
  /** `token` (a source), or `variable` (a CI variable or Actions secret, a target). */
  role: 'token' | 'variable';
  owner: FoundOwner;
  /** The token's name, the variable's key or the secret's name. */
  name: string;
  /** The provider's own id of a token. */
  tokenId?: string;
  scopes?: string[];
  /** Project and group tokens: GitLab's role number (10 guest ... 50 owner). */
  accessLevel?: number;
  createdAt?: string;
  /** `YYYY-MM-DD`; null when it never expires; absent when the provider does not say (variables, secrets). */
  expiresAt?: string | null;
  lastUsedAt?: string | null;
  updatedAt?: string;
  /** A GitLab variable's environment scope. */
  environmentScope?: string;
  /** A GitHub organization secret's visibility. */
  visibility?: 'all' | 'private' | 'selected';
  /** Why it looks like it holds a token (a variable or secret), never the value. */
  looksLikeToken?: string;
  /** What else the operator should know: a hidden value, a protected variable. */
  note?: string;
  /** The inventory credential that manages it, when one does. */
  managedBy?: string;
}

/** One lister's answer: what it found, and what it could not list and why. */
export interface Listing {
  found: Found[];
  notListed: string[];
}

/**
 * A lister of one kind of token or variable at one provider, given what the walk of the scope found (the
 * groups and projects, or the repositories). Adding a kind of token to discovery is one lister in the
 * provider's list (GITLAB_LISTERS in gitlab.ts, GITHUB_LISTERS in github.ts).
 */
export interface Lister<Scope> {
  /** What it lists, in the operator's words: `project access tokens`. */
  what: string;
  list(scope: Scope): Promise<Listing>;
}

/** Token prefixes GitLab and GitHub document: a value that starts with one is a token. */
const TOKEN_PREFIXES = [
  ['glpat-', 'a GitLab personal, project or group access token'],
  ['gldt-', 'a GitLab deploy token'],
  ['glptt-', 'a GitLab pipeline trigger token'],
  ['ghp_', 'a GitHub personal access token (classic)'],
  ['github_pat_', 'a GitHub fine-grained personal access token'],
] as const;

/** Key words that name a secret: TOKEN, PASSWORD and SECRET anywhere, PAT as a word of the key. */
const SECRET_WORDS = /TOKEN|PASSWORD|SECRET/i;

/**
 * Why a variable looks like it holds a token: its value's prefix (when the value is readable), else its key.
 * Returns undefined when it does not. The value is only looked at here and never kept.
 */
export function tokenShape(key: string, value: string | null | undefined): string | undefined {
  const prefix = value == null ? undefined : TOKEN_PREFIXES.find(([start]) => value.startsWith(start));
  if (prefix !== undefined) return `value starts with ${prefix[0]} (${prefix[1]})`;
  const word = SECRET_WORDS.exec(key)?.[0] ?? key.split(/[_\W]+/).find((part) => /^PATS?$/i.test(part));
  return word === undefined ? undefined : `key contains ${word.toUpperCase()}`;
}

/** The owner as operators read it: `project platform/app`, `organization acme`. */
export function ownerLabel(owner: FoundOwner): string {
  switch (owner.scope) {
    case 'project':
    case 'group':
      return `${owner.scope} ${owner.path}`;
    case 'service-account':
      return `group ${owner.path} service account ${owner.userId}`;
    case 'user':
      return `user ${owner.id}`;
    case 'repository':
      return `repository ${owner.repository}`;
    case 'organization':
      return `organization ${owner.organization}`;
  }
}

/** Every lister's findings together, in the order the listers ran. */
export function merged(listings: Listing[]): Listing {
  return {
    found: listings.flatMap(({ found }) => found),
    notListed: listings.flatMap(({ notListed }) => notListed),
  };
}
