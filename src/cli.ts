#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerApprove } from './cli/approve';
import { registerCodecServer } from './cli/codec-server';
import { CliContext, EXIT, type CliIo } from './cli/context';
import { registerDiscover } from './cli/discover';
import { registerFileCommands } from './cli/files';
import { registerFingerprints } from './cli/fingerprints';
import { registerHealth } from './cli/health';
import { registerIncident, type IncidentServices } from './cli/incident';
import { registerIncidentReport } from './cli/incident-report';
import { registerRotate } from './cli/rotate';
import { registerRotateAll } from './cli/rotate-all';
import { registerSchedules } from './cli/schedules';
import { registerHistory, registerStatus } from './cli/status';
import { registerSteering } from './cli/steer';
import { registerAwsPolicy } from './cli/aws-policy';
import { registerVaultPolicy } from './cli/vault-policy';
import { registerVerifyState } from './cli/verify-state';

export type { CliIo, IncidentServices };

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

  registerFileCommands(program, cli);
  registerRotate(program, cli);
  registerStatus(program, cli);
  registerApprove(program, cli);
  registerSteering(program, cli);
  registerHistory(program, cli);
  registerSchedules(program, cli);
  registerRotateAll(program, cli);
  registerHealth(program, cli);
  registerCodecServer(program, cli);
  registerVaultPolicy(program, cli);
  registerAwsPolicy(program, cli);
  registerVerifyState(program, cli);
  registerFingerprints(program, cli);
  registerDiscover(program, cli);
  registerIncidentReport(registerIncident(program, cli, services), cli);

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
