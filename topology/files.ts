import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository's `deploy/topology/`: beside `topology/` in the sources, two levels up from `dist/topology/`. */
const DEPLOY_DIR = [join(__dirname, '../deploy/topology'), join(__dirname, '../../deploy/topology')].find(
  (path) => existsSync(path),
);

/** A folder for this user only, also when it existed before with looser modes. */
export function privateDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
  return path;
}

/** Writes a file for this user only (0600): keys, passwords, tokens, and configs that hold them. */
export function writePrivate(path: string, text: string): string {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** A random secret of letters and digits, safe to put in any config file or URL unquoted. */
export const randomSecret = () => randomBytes(24).toString('hex');

/**
 * Renders a template of deploy/topology/: every `${NAME}` is replaced by its value. An unknown name, or a value
 * that would need quoting in YAML or HCL, throws: the template and the tooling must agree exactly.
 */
export function renderTemplate(template: string, values: Record<string, string | number>): string {
  if (DEPLOY_DIR === undefined)
    throw new Error('cannot find deploy/topology/: run the topology from a checkout');
  const text = readFileSync(join(DEPLOY_DIR, template), 'utf8');
  return text.replace(/\$\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`${template} names \${${name}}, which the tooling does not set`);
    if (!/^[\w./:@+-]+$/.test(String(value)))
      throw new Error(`${template}: the value of \${${name}} has characters that would need quoting`);
    return String(value);
  });
}
