import type { Command } from 'commander';
import { DEFAULT_INVENTORY, readAuditPaths } from '../config/environment';
import { ValidationError } from '../validation';
import { rotatorPolicy } from '../vault-policy';
import { CliContext, CliError, EXIT } from './context';

/** `rotator vault policy [file]`: the least-privilege Vault policy for an inventory, as HCL on stdout. */
export function registerVaultPolicy(program: Command, cli: CliContext): void {
  program
    .command('vault')
    .description('what the worker needs from Vault')
    .command('policy')
    .description('print the least-privilege Vault policy (HCL) for the worker of an inventory')
    .argument('[file]', `inventory file (default: $ROTATOR_INVENTORY, or ${DEFAULT_INVENTORY})`)
    .action(
      cli.action(async (file: string | undefined) => {
        // The same reading and errors as every command that reads the inventory, for the file given.
        const reader =
          file === undefined ? cli : new CliContext(cli.io, { ...cli.env, ROTATOR_INVENTORY: file });
        const inventory = await reader.inventory();
        let audit;
        try {
          audit = readAuditPaths(cli.env);
        } catch (error) {
          if (error instanceof ValidationError) throw new CliError(error.message, EXIT.usage);
          throw error;
        }
        cli.io.stdout(rotatorPolicy(inventory, reader.config.inventory, audit));
        return EXIT.ok;
      }),
    );
}
