import { writeFileSync } from 'node:fs';
import { defined } from '../gitlab/world';
import type { SeededCredential } from '../helpers/rotation';
import { cliWorld, type CliWorld } from './world';

let world: CliWorld;
let credential: SeededCredential;

beforeAll(async () => {
  world = await cliWorld('cli-environment');
  credential = await world.rotation.seed('only');
  world.rotation.writeInventory();
});

afterAll(async () => {
  await world?.close();
});

describe('rotator commands and their environment', () => {
  it('names every bad variable with exit 2, before anything reaches Temporal', async () => {
    const { code, stdout, stderr } = await world.cli(['status'], {
      TEMPORAL_UI_URL: 'localhost:8233',
      TEMPORAL_TLS_CERT: '/etc/rotator/client.pem',
    });
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toBe(
      'rotator: the CLI environment is invalid:\n' +
        '  TEMPORAL_UI_URL: expected a URL such as http://localhost:8233\n' +
        '  TEMPORAL_TLS_KEY: required with TEMPORAL_TLS_CERT\n',
    );
  });

  it('names TEMPORAL_NAMESPACE with exit 4 when the namespace does not exist', async () => {
    const { code, stderr } = await world.cli(['history', credential.id], {
      TEMPORAL_NAMESPACE: 'no-such-namespace',
    });
    expect(code).toBe(4);
    expect(stderr).toMatch(
      /^rotator: Temporal at \S+ has no namespace "no-such-namespace": set TEMPORAL_NAMESPACE\n$/,
    );
  });

  it('says how to fix an unreadable or invalid inventory, with exit 2', async () => {
    expect(await world.cli(['status'], { ROTATOR_INVENTORY: '/nonexistent/rotator.yaml' })).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'rotator: cannot read the inventory /nonexistent/rotator.yaml (ENOENT): set ROTATOR_INVENTORY to its path\n',
    });
    const broken = `${world.rotation.inventoryPath}.broken.yaml`;
    writeFileSync(broken, 'credentials: []\n');
    expect(await world.cli(['rotate', defined(credential).id], { ROTATOR_INVENTORY: broken })).toEqual({
      code: 2,
      stdout: '',
      stderr: `rotator: the inventory ${broken} is invalid (1 error): run \`rotator config check ${broken}\`\n`,
    });
  });

  it('documents every command in --help', async () => {
    const { code, stdout } = await world.cli(['--help']);
    expect(code).toBe(0);
    for (const command of [
      'rotate',
      'status',
      'approve',
      'abort',
      'end-overlap',
      'extend-overlap',
      'retry-rollback',
      'resolve',
      'history',
      'schedules',
      'rotate-all',
    ]) {
      expect(stdout).toMatch(new RegExp(`\n  ${command} `));
    }
  });
});
