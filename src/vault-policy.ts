import { anchorFolder } from './audit';
import { vaultSecretOf } from './stores';
import { stagedPath } from './stores/vault';
import type { Inventory } from './inventory/schema';
import type { SecretPath } from './vault';

type Capability = 'create' | 'read' | 'update';

/** The audit key, and the anchor when ROTATOR_AUDIT_ANCHOR_PATH names one (else one per log, beside the key). */
export interface AuditPaths {
  key: SecretPath;
  anchor?: SecretPath;
}

interface Grant {
  capabilities: Set<Capability>;
  /** What needs it, written above the path so that a reviewer sees why each line is there. */
  why: Set<string>;
}

/**
 * What the worker's own token needs whatever the inventory: look itself up (the readiness check), renew
 * itself, and revoke itself at shutdown. Vault's `default` policy grants the same; listing them here lets an
 * AppRole role set `token_no_default_policy`.
 */
const TOKEN_SELF = `# The worker's own token: the readiness check looks it up, the worker renews it and revokes it at shutdown.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
`;

/**
 * The least-privilege Vault policy for an inventory, as HCL. Per credential: read and write (never delete,
 * never list) its current secret and its staged value, and read its KV metadata (the freshness metrics).
 * Every other secret the inventory names (provider admin tokens, OAuth2 client secrets) is read-only. The
 * audit key is read-only too; the anchors, one per worker's log, are written.
 */
export function rotatorPolicy(inventory: Inventory, inventoryFile: string, audit: AuditPaths): string {
  const grants = new Map<string, Grant>();
  const grant = (path: string, capabilities: Capability[], why: string) => {
    const entry = grants.get(path) ?? { capabilities: new Set(), why: new Set() };
    capabilities.forEach((capability) => entry.capabilities.add(capability));
    entry.why.add(why);
    grants.set(path, entry);
  };

  // Providers first, then each credential with what only it uses: in inventory order, for review.
  for (const { at, why } of secretFields(inventory.providers, 'providers'))
    grant(dataPath(at), ['read'], why);
  for (const credential of inventory.credentials) {
    const { id } = credential;
    const vault = vaultSecretOf(credential.store);
    // A credential kept in another store needs nothing of Vault but its fields' secrets.
    if (vault !== undefined) {
      // KV v2 writes are `create` for the first version and `update` for later ones; check-and-set needs both.
      grant(
        dataPath(vault),
        ['create', 'read', 'update'],
        `${id}: current value (detect, promote, rollback)`,
      );
      grant(
        dataPath(stagedPath(vault)),
        ['create', 'read', 'update'],
        `${id}: new value staged until promoted (issue, verify, distribute)`,
      );
      grant(`${vault.mount}/metadata/${vault.path}`, ['read'], `${id}: when it was last rotated (metrics)`);
    }
    for (const { at, why } of secretFields(credential, id)) grant(dataPath(at), ['read'], why);
  }

  grant(dataPath(audit.key), ['read'], "the audit chain's HMAC key (ROTATOR_AUDIT_KEY_PATH): read at start");
  grant(
    audit.anchor === undefined ? `${dataPath(anchorFolder(audit.key))}/+` : dataPath(audit.anchor),
    ['create', 'read', 'update'],
    "the audit log's head, written after each step (ROTATOR_AUDIT_ANCHOR_PATH, or one per log beside the key)",
  );

  const paths = [...grants.entries()].map(([path, { capabilities, why }]) => {
    const listed = (['create', 'read', 'update'] as const).filter((c) => capabilities.has(c));
    return (
      [...why].map((line) => `# ${line}\n`).join('') +
      `path "${path}" {\n  capabilities = [${listed.map((c) => `"${c}"`).join(', ')}]\n}\n`
    );
  });
  return [
    `# The cred-rotator worker's Vault policy for ${inventoryFile}: least privilege, nothing may be listed\n` +
      '# or deleted. Made by `rotator vault policy`: make it again whenever the inventory changes.\n',
    TOKEN_SELF,
    ...paths,
  ].join('\n');
}

/** The secret fields (admin tokens, OAuth2 client secrets) named anywhere in `value`: the worker only reads these. */
function secretFields(value: unknown, where: string): { at: SecretPath; why: string }[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => secretFields(item, `${where}[${index}]`));
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  // Every secret field in the schema is an object with a mount, a path and a key (src/vault.ts).
  if (typeof record.mount === 'string' && typeof record.path === 'string' && typeof record.key === 'string') {
    return [{ at: { mount: record.mount, path: record.path }, why: `${where}: read-only` }];
  }
  return Object.entries(record).flatMap(([key, child]) => secretFields(child, `${where}.${key}`));
}

function dataPath(at: SecretPath): string {
  return `${at.mount}/data/${at.path}`;
}
