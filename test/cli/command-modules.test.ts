import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { COMMAND_MODULES, runCli } from '../../src/cli';
import { CliContext } from '../../src/cli/context';
import { fleetInventoryYaml } from '../helpers/fleet-inventory';

const quiet = { stdout: () => undefined, stderr: () => undefined };

describe('the command modules rotator loads', () => {
  it('each names exactly the top-level commands it registers, in the order help lists them', async () => {
    const program = new Command('rotator');
    const cli = new CliContext(quiet, {});
    const claimed: string[] = [];
    for (const { commands, load } of COMMAND_MODULES) {
      const before = program.commands.length;
      (await load())(program, cli, {});
      expect(program.commands.slice(before).map((command) => command.name())).toEqual(commands);
      claimed.push(...commands);
    }
    expect(new Set(claimed).size).toBe(claimed.length);
  });

  it('lists every command in help, though a command loads only its own module', async () => {
    let help = '';
    expect(await runCli(['--help'], { stdout: (text) => (help += text), stderr: () => undefined }, {})).toBe(
      0,
    );
    for (const { commands } of COMMAND_MODULES)
      for (const name of commands) expect(help).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  });
});

/**
 * Runs `rotator config check` of an inventory in a Node process of its own, the TypeScript sources
 * transpiled as they load, and prints the packages that process loaded.
 */
const CHECK_AND_LIST_PACKAGES = `
const [root, inventory] = process.argv.slice(1);
const { readFileSync } = require('node:fs');
const ts = require(root + '/node_modules/typescript');
require.extensions['.ts'] = (module, filename) => {
  const { outputText } = ts.transpileModule(readFileSync(filename, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(outputText, filename);
};
const quiet = { stdout: () => undefined, stderr: () => undefined };
require(root + '/src/cli.ts').runCli(['config', 'check', inventory], quiet, {}).then((code) => {
  const packages = new Set();
  for (const file of Object.keys(require.cache)) {
    const match = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file);
    if (match !== null) packages.add(match[1]);
  }
  process.stdout.write(JSON.stringify({ code, packages: [...packages] }));
});
`;

describe('rotator config check', () => {
  const directory = mkdtempSync(join(tmpdir(), 'rotator-modules-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('loads no client of a store, provider or Temporal, no logger, nor the YAML parser that only explains errors', () => {
    const root = join(__dirname, '../..');
    // A fleet's inventory has credentials of every store and both providers' targets.
    const inventory = join(directory, 'rotator.yaml');
    writeFileSync(inventory, fleetInventoryYaml(40));
    const { code, packages } = JSON.parse(
      execFileSync(process.execPath, ['-e', CHECK_AND_LIST_PACKAGES, root, inventory], { encoding: 'utf8' }),
    ) as { code: number; packages: string[] };
    expect(code).toBe(0);
    // What the check does need, so that the list is known to be read.
    expect(packages).toEqual(expect.arrayContaining(['zod', 'js-yaml', 'commander']));
    for (const library of [
      'node-vault',
      '@aws-sdk/client-secrets-manager',
      '@gitbeaker/rest',
      '@gitbeaker/requester-utils',
      '@octokit/rest',
      '@temporalio/client',
      '@temporalio/common',
      'pino',
      'yaml',
    ])
      expect(packages).not.toContain(library);
  });
});
