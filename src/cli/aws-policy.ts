import type { Command } from 'commander';
import { z } from 'zod';
import { awsPolicy } from '../aws-policy';
import { DEFAULT_INVENTORY } from '../config/environment';
import { parseOrThrow, ValidationError } from '../validation';
import { CliContext, CliError, EXIT } from './context';

const accountSchema = z.union([
  z.literal('*'),
  z.string().regex(/^[0-9]{12}$/, 'expected a 12-digit AWS account id'),
]);

/** `rotator aws policy [file]`: the least-privilege IAM policy for the worker of an inventory, as JSON on stdout. */
export function registerAwsPolicy(program: Command, cli: CliContext): void {
  program
    .command('aws')
    .description('what the worker needs from AWS')
    .command('policy')
    .description(
      'print the least-privilege IAM policy (JSON) for the Secrets Manager secrets of an inventory',
    )
    .argument('[file]', `inventory file (default: $ROTATOR_INVENTORY, or ${DEFAULT_INVENTORY})`)
    .option('--account <id>', "the secrets' AWS account id, in ARNs built from secret names", '*')
    .action(
      cli.action(async (file: string | undefined, options: { account: string }) => {
        let account;
        try {
          account = parseOrThrow(accountSchema, options.account, '--account');
        } catch (error) {
          if (error instanceof ValidationError) throw new CliError(error.message, EXIT.usage);
          throw error;
        }
        const reader =
          file === undefined ? cli : new CliContext(cli.io, { ...cli.env, ROTATOR_INVENTORY: file });
        const policy = awsPolicy(await reader.inventory(), account);
        if (policy === undefined)
          throw new CliError(`${reader.config.inventory} keeps nothing in AWS Secrets Manager`, EXIT.usage);
        cli.io.stdout(policy);
        return EXIT.ok;
      }),
    );
}
