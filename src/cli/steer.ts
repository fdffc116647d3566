import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { Command } from 'commander';
import { z } from 'zod';
import { duration } from '../inventory/durations';
import { breakGlassWorkflowId } from '../incidents/request';
import { rotationWorkflowId } from '../rotation-names';
import { ROTATION_OUTCOME } from '../search-attributes';
import { abort, endOverlapNow, extendOverlap, resolve, retryRollback } from '../../workflows/operator';
import { CliContext, CliError, EXIT, isNotFound, parseOptions, withJson } from './context';

/** One of the rotation's updates (workflows/operator.ts), as the CLI sends it. */
export interface Steer<Args> {
  command: string;
  /** The update as the workflow defines it: its name and what it takes. */
  update: UpdateDefinition<string, [Args]>;
  /** Says what happened, given the update's answer (a time). */
  done: (id: string, answer: string) => string;
  /** The credential's break-glass rotation (`break-glass/<id>`) rather than its rotation (`rotate/<id>`). */
  breakGlass?: boolean;
}

const byOption = z.object({ requestedBy: z.string().optional(), json: z.boolean().optional() });

export function registerSteering(program: Command, cli: CliContext): void {
  const simple = (
    steer: Steer<{ requestedBy: string }>,
    description: string,
    argsFor: (requestedBy: string) => { requestedBy: string },
  ) =>
    withJson(
      program
        .command(steer.command)
        .summary(description)
        .description(`${description}; exits 3 when no rotation runs or the rotation refuses`)
        .argument('<id>', 'credential id from the inventory')
        .option('--requested-by <name>', 'who asks (default: $USER)'),
    ).action(
      cli.action(async (id: string, raw: unknown) => {
        const options = parseOptions(byOption, raw);
        return send(cli, id, steer, argsFor(cli.requester(options.requestedBy)), options.json === true);
      }),
    );

  simple(
    {
      command: 'end-overlap',
      update: endOverlapNow,
      done: (id, at) => `ended the overlap window of ${id} at ${at}`,
    },
    'end the overlap window now: the old token is revoked at once',
    (requestedBy) => ({ requestedBy }),
  );
  simple(
    {
      command: 'retry-rollback',
      update: retryRollback,
      done: (id, at) => `retried the rollback of ${id} at ${at}`,
    },
    'run the undo steps that failed once more, after fixing their cause (phase needs-operator)',
    (requestedBy) => ({ requestedBy }),
  );

  withJson(
    program
      .command('abort')
      .summary('stop a rotation and roll it back')
      .description(
        'stop a rotation and roll it back (before promote, at its next step; during the overlap window, at ' +
          'once); exits 3 when no rotation runs or it is too late',
      )
      .argument('<id>', 'credential id from the inventory')
      .requiredOption('--reason <reason>', 'why the rotation is aborted')
      .option('--requested-by <name>', 'who asks (default: $USER)'),
  ).action(
    cli.action(async (id: string, raw: unknown) => {
      const options = parseOptions(byOption.extend({ reason: z.string().trim().min(1) }), raw);
      return send(
        cli,
        id,
        {
          command: 'abort',
          update: abort,
          done: (credential, at) => `aborted the rotation of ${credential} at ${at}: it rolls back`,
        },
        { requestedBy: cli.requester(options.requestedBy), reason: options.reason },
        options.json === true,
      );
    }),
  );

  withJson(
    program
      .command('resolve')
      .summary('take over a rollback that cannot finish')
      .description(
        'take over a rollback that cannot finish (phase needs-operator): the rotation ends with outcome ' +
          'failed; exits 3 when no rollback awaits an operator',
      )
      .argument('<id>', 'credential id from the inventory')
      .requiredOption('--note <note>', 'what you did or will do about what rollback left')
      .option('--requested-by <name>', 'who takes it over (default: $USER)'),
  ).action(
    cli.action(async (id: string, raw: unknown) => {
      const options = parseOptions(byOption.extend({ note: z.string().trim().min(1) }), raw);
      return send(
        cli,
        id,
        {
          command: 'resolve',
          update: resolve,
          done: (credential, at) => `resolved the rollback of ${credential} at ${at}`,
        },
        { resolvedBy: cli.requester(options.requestedBy), note: options.note },
        options.json === true,
      );
    }),
  );

  withJson(
    program
      .command('extend-overlap')
      .summary('keep the old token valid longer')
      .description(
        'keep the old token valid longer: adds the duration to the overlap window; exits 3 when no window is open',
      )
      .argument('<id>', 'credential id from the inventory')
      .argument('<duration>', 'whole minutes to add, such as 30m, 2h or 1h30m')
      .option('--requested-by <name>', 'who asks (default: $USER)'),
  ).action(
    cli.action(async (id: string, text: string, raw: unknown) => {
      const options = parseOptions(byOption, raw);
      const parsed = duration.safeParse(text);
      if (!parsed.success || parsed.data === 0 || parsed.data % 60_000 !== 0) {
        throw new CliError('duration: expected whole minutes such as 30m, 2h or 1h30m', EXIT.usage);
      }
      return send(
        cli,
        id,
        {
          command: 'extend-overlap',
          update: extendOverlap,
          done: (credential, until) => `extended the overlap window of ${credential} until ${until}`,
        },
        { minutes: parsed.data / 60_000, requestedBy: cli.requester(options.requestedBy) },
        options.json === true,
      );
    }),
  );
}

/** The running rotation an update goes to. */
export interface RunningRotation {
  client: Client;
  workflowId: string;
  runId: string;
}

/**
 * Sends an update to the credential's running rotation; the workflow's refusal is shown as it is. `args`
 * may depend on the run, as a signed approval does.
 */
export async function send<Args extends object>(
  cli: CliContext,
  id: string,
  steer: Steer<Args>,
  args: Args | ((rotation: RunningRotation) => Promise<Args>),
  json: boolean,
) {
  await cli.credential(id);
  const client = await cli.client();
  const workflowId = steer.breakGlass === true ? breakGlassWorkflowId(id) : rotationWorkflowId(id);
  const rotation = steer.breakGlass === true ? 'break-glass rotation' : 'rotation';
  const handle = client.workflow.getHandle(workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (error) {
    if (isNotFound(error)) {
      throw new CliError(
        `no ${rotation} of ${id} has run, so there is nothing to ${steer.command}`,
        EXIT.refused,
      );
    }
    throw error;
  }
  if (description.status.name !== 'RUNNING') {
    const outcome =
      description.typedSearchAttributes.get(ROTATION_OUTCOME) ?? description.status.name.toLowerCase();
    throw new CliError(
      `no ${rotation} of ${id} is running (the last one ended ${outcome} at ` +
        `${description.closeTime?.toISOString() ?? 'an unknown time'}), so there is nothing to ${steer.command}`,
      EXIT.refused,
    );
  }
  const payload =
    typeof args === 'function' ? await args({ client, workflowId, runId: description.runId }) : args;
  let answer: string;
  try {
    answer = await handle.executeUpdate(steer.update, { args: [payload] });
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) {
      throw new CliError(
        `the ${rotation} of ${id} refused ${steer.command}: ${error.cause?.message ?? error.message}`,
        EXIT.refused,
      );
    }
    throw error;
  }
  const url = cli.workflowUrl(workflowId);
  if (json) cli.json({ credentialId: id, workflowId, update: steer.update.name, answer, url });
  else cli.io.stdout(`${steer.done(id, answer)}\n  ${url}\n`);
  return EXIT.ok;
}
