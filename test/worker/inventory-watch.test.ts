import { once } from 'node:events';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { InventoryError, InventoryWatcher, inventoryReader } from '../../src/inventory/watch';
import { createLogger } from '../../src/logging';

const EXAMPLE = readFileSync(join(__dirname, '../../examples/rotator.yaml'), 'utf8');
const EDITED = EXAMPLE.replace('Deploys the web app', 'Deploys the new web app');
const SECRET = 'glpat-pasted-by-mistake-0123456789';
const INVALID = `credentials:\n  - id: deployer\n    token: ${SECRET}\n`;

let dir: string;
let path: string;
let logged: string;
let watcher: InventoryWatcher | undefined;

function logger() {
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => (logged += chunk.toString('utf8')));
  return createLogger('info', stream);
}

const description = (inventory: InventoryWatcher) =>
  inventory.current().credentials.find((credential) => credential.id === 'deployer-production')?.description;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'inventory-watch-'));
  path = join(dir, 'rotator.yaml');
  logged = '';
  writeFileSync(path, EXAMPLE);
});

afterEach(() => {
  watcher?.close();
  watcher = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('the inventory watcher', () => {
  it('refuses to start on an invalid inventory, naming its errors', async () => {
    writeFileSync(path, INVALID);
    const opened = InventoryWatcher.open(path, logger());
    await expect(opened).rejects.toBeInstanceOf(InventoryError);
    await expect(opened).rejects.toThrow(/credentials\[0\]\.token: unknown key/);
    await expect(opened).rejects.not.toThrow(SECRET);
  });

  it('applies a valid change, refuses an invalid one and keeps the last good inventory', async () => {
    watcher = await InventoryWatcher.open(path, logger());
    watcher.watch();

    const reloaded = once(watcher, 'reloaded');
    writeFileSync(path, EDITED);
    await reloaded;
    expect(description(watcher)).toBe(
      'Deploys the new web app to production from GitLab CI and GitHub Actions',
    );

    const refused = once(watcher, 'refused');
    writeFileSync(path, INVALID);
    const [errors] = (await refused) as [string[]];
    expect(errors).toEqual(expect.arrayContaining([expect.stringMatching(/token: unknown key/)]));
    expect(description(watcher)).toBe(
      'Deploys the new web app to production from GitLab CI and GitHub Actions',
    );
    expect(await inventoryReader(path, watcher)()).toEqual({ ok: true, inventory: watcher.current() });

    expect(logged).toContain('inventory refused');
    expect(logged).toContain('token: unknown key');
    expect(logged).not.toContain(SECRET);
  });

  it('follows a file replaced by rename, as editors and Kubernetes ConfigMaps do', async () => {
    watcher = await InventoryWatcher.open(path, logger());
    watcher.watch();
    const reloaded = once(watcher, 'reloaded');
    writeFileSync(join(dir, 'rotator.yaml.tmp'), EDITED);
    renameSync(join(dir, 'rotator.yaml.tmp'), path);
    await reloaded;
    expect(description(watcher)).toMatch(/^Deploys the new web app/);
  });

  it('re-reads on request (SIGHUP): an unchanged file is no news, a deleted one is refused', async () => {
    watcher = await InventoryWatcher.open(path, logger());
    expect(await watcher.reload('SIGHUP')).toBe(false);
    expect(logged).not.toContain('inventory reloaded');

    rmSync(path);
    expect(await watcher.reload('SIGHUP')).toBe(false);
    expect(logged).toContain('cannot read the file: ENOENT');
    expect(description(watcher)).toMatch(/^Deploys the web app/);

    writeFileSync(path, EDITED);
    expect(await watcher.reload('SIGHUP')).toBe(true);
    expect(description(watcher)).toMatch(/^Deploys the new web app/);
  });

  it('without a watcher, reads the file anew for each rotation (as tests that pass only a path do)', async () => {
    const read = inventoryReader(path);
    expect(await read()).toMatchObject({ ok: true });
    writeFileSync(path, INVALID);
    expect(await read()).toMatchObject({ ok: false });
  });
});

describe('the JSON logger', () => {
  it('censors secret-looking fields wherever the SDK or a library puts them', () => {
    const log = logger();
    log.info(
      { token: SECRET, request: { headers: { authorization: SECRET } }, vault: { value: SECRET } },
      'hi',
    );
    const line = JSON.parse(logged) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'info', msg: 'hi', service: 'cred-rotator', token: '[redacted]' });
    expect(logged).not.toContain(SECRET);
  });
});
