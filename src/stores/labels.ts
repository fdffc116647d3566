/**
 * A store version as operators read it: Vault's numbered versions as "v7", a store's own version ids as they
 * are. Free of imports, for the workflow sandbox.
 */
export function versionLabel({ version }: { version: number | string }): string {
  return typeof version === 'number' ? `v${version}` : version;
}
