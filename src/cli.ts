#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { CliContext, EXIT, type CliIo } from './cli/context';
import type { IncidentServices } from './cli/incident';

export type { CliIo, IncidentServices };

type Register = (program: Command, cli: CliContext, services: IncidentServices) => void;

/**
 * Each command module, with the top-level commands it adds, in the order help lists them. Only the module
 * of the command asked for is loaded: loading them all (Temporal's client, every provider's library) took
 * longer than `config check` of 10,000 credentials. Help, and a name no entry claims, load them all.
 */
export const COMMAND_MODULES: { commands: string[]; load: () => Promise<Register> }[] = [
  { commands: ['config', 'audit'], load: async () => (await import('./cli/files')).registerFileCommands },
  { commands: ['rotate'], load: async () => (await import('./cli/rotate')).registerRotate },
  { commands: ['status'], load: async () => (await import('./cli/status')).registerStatus },
  { commands: ['approve'], load: async () => (await import('./cli/approve')).registerApprove },
  {
    commands: ['end-overlap', 'retry-rollback', 'abort', 'resolve', 'extend-overlap'],
    load: async () => (await import('./cli/steer')).registerSteering,
  },
  { commands: ['history'], load: async () => (await import('./cli/status')).registerHistory },
  { commands: ['schedules'], load: async () => (await import('./cli/schedules')).registerSchedules },
  { commands: ['rotate-all'], load: async () => (await import('./cli/rotate-all')).registerRotateAll },
  { commands: ['health'], load: async () => (await import('./cli/health')).registerHealth },
  { commands: ['codec-server'], load: async () => (await import('./cli/codec-server')).registerCodecServer },
  { commands: ['vault'], load: async () => (await import('./cli/vault-policy')).registerVaultPolicy },
  { commands: ['aws'], load: async () => (await import('./cli/aws-policy')).registerAwsPolicy },
  { commands: ['verify-state'], load: async () => (await import('./cli/verify-state')).registerVerifyState },
  { commands: ['fingerprints'], load: async () => (await import('./cli/fingerprints')).registerFingerprints },
  { commands: ['discover'], load: async () => (await import('./cli/discover')).registerDiscover },
  {
    commands: ['incident', 'alerts-server'],
    load: async () => {
      const [{ registerIncident }, { registerIncidentReport }] = await Promise.all([
        import('./cli/incident'),
        import('./cli/incident-report'),
      ]);
      return (program, cli, services) =>
        registerIncidentReport(registerIncident(program, cli, services), cli);
    },
  },
];

/** The modules `argv` needs: the one whose command it names, or all of them. */
function commandsFor(argv: readonly string[]): Promise<Register[]> {
  const named = COMMAND_MODULES.find(({ commands }) => commands.includes(argv[0] ?? ''));
  return Promise.all((named === undefined ? COMMAND_MODULES : [named]).map(({ load }) => load()));
}

/** Runs `rotator` with the given arguments (without `node` and the script) and returns its exit code. */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  env: NodeJS.ProcessEnv = process.env,
  services: IncidentServices = {},
): Promise<number> {
  const cli = new CliContext(io, env);
  const program = new Command('rotator')
    .description(
      'Rotates CI/CD credentials: GitLab access tokens and OAuth2 refresh tokens, kept in Vault or AWS Secrets Manager.',
    )
    .exitOverride()
    // It has no options of its own; a command such as `incident` can then keep its options before its subcommands.
    .enablePositionalOptions()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .addHelpText(
      'after',
      '\nExit codes: 0 done; 1 a rotation ended rolled back, failed or cancelled (or an invalid file); ' +
        '2 usage; 3 refused; 4 Temporal unreachable; `health` exits 1 when it finds a problem.\nEnvironment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ' +
        'TEMPORAL_TASK_QUEUE, TEMPORAL_TLS_*, ROTATOR_INVENTORY, ROTATOR_CODEC_KEYS_FILE or ROTATOR_CODEC_KEYS, ' +
        'ROTATOR_CODEC_SERVER_TOKEN, TEMPORAL_UI_URL, USER, SSH_AUTH_SOCK ' +
        '(docs/operations.md, "The operator CLI").\n',
    );

  for (const register of await commandsFor(argv)) register(program, cli, services);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    // Commander has already written the usage error, or the help that was asked for.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw error;
  } finally {
    await cli.close();
  }
  return cli.exitCode;
}

if (require.main === module) {
  void runCli(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  }).then((code) => {
    process.exitCode = code;
  });
}
