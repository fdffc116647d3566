import { Command } from 'commander';
import { COMMAND_MODULES, runCli } from '../../src/cli';
import { CliContext } from '../../src/cli/context';

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
