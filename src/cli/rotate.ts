import { setTimeout as sleep } from 'node:timers/promises';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithStartDetails,
} from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { ROTATION_REASONS, type RotationRequest } from '../../activities/rotation';
import { ROTATION_OUTCOME, ROTATION_PHASE } from '../search-attributes';
import { startRotation } from '../rotations';
import { rotationWorkflowId } from '../rotation-names';
import type { rotateCredential } from '../../workflows/rotate-credential';
import { statusQuery, type RotationStatus } from '../../workflows/status';
import { CliContext, CliError, EXIT, parseOptions, withJson, type ExitCode } from './context';

/** Outcomes after which nothing is left to do; any other ending needs a look. */
export const SUCCESSFUL_OUTCOMES: ReadonlySet<string> = new Set(['rotated', 'not-due', 'dry-run']);
/** How often a follower asks a running rotation for its status. */
const POLL_MS = 500;

const rotateOptions = z.object({
  reason: z.enum(ROTATION_REASONS).default('manual'),
  force: z.boolean().optional(),
  dryRun: z.boolean().optional(),
  skipCanary: z.string().trim().min(1, 'say why the canary is skipped').optional(),
  wait: z.boolean().optional(),
  requestedBy: z.string().optional(),
  json: z.boolean().optional(),
});

export function registerRotate(program: Command, cli: CliContext): void {
  withJson(
    program
      .command('rotate')
      .summary('start a rotation of one credential; --wait follows it')
      .description(
        'start a rotation of one credential; refuses (exit 3) while one runs. Exits 0 once started, or with ' +
          '--wait 0 when rotated, not due or a dry run, 1 when rolled back, failed or cancelled',
      )
      .argument('<id>', 'credential id from the inventory')
      .option('--reason <reason>', `why: ${ROTATION_REASONS.join(', ')}`, 'manual')
      .option('--force', 'rotate even when the credential is not due')
      .option('--dry-run', 'stop after detect and say what would happen')
      .option(
        '--skip-canary <reason>',
        "promote without running the credential's canary (an emergency); the reason goes to the audit log",
      )
      .option('--wait', 'follow the phases live and end with the outcome')
      .option('--requested-by <name>', 'who asks (default: $USER)'),
  ).action(
    cli.action(async (id: string, raw: unknown) => {
      const options = parseOptions(rotateOptions, raw);
      const requestedBy = cli.requester(options.requestedBy);
      const credential = await cli.credential(id);
      if (options.skipCanary !== undefined && credential.canary === undefined)
        throw new CliError(`--skip-canary: credential "${id}" has no canary to skip`, EXIT.usage);
      const client = await cli.client();
      const request: RotationRequest = {
        credentialId: id,
        reason: options.reason,
        requestedBy,
        ...(options.force === true ? { force: true } : {}),
        ...(options.dryRun === true ? { dryRun: true } : {}),
        ...(options.skipCanary === undefined ? {} : { skipCanary: { reason: options.skipCanary } }),
      };
      let handle: WorkflowHandleWithStartDetails<typeof rotateCredential>;
      try {
        handle = await startRotation(client, cli.config.temporal.taskQueue, request);
      } catch (error) {
        if (error instanceof WorkflowExecutionAlreadyStartedError)
          return refuseRunning(cli, client, id, options);
        throw error;
      }
      const started = {
        credentialId: id,
        workflowId: handle.workflowId,
        runId: handle.firstExecutionRunId,
        url: cli.workflowUrl(handle.workflowId),
      };
      const report = options.json === true ? cli.io.stderr : cli.io.stdout;
      report(
        `started the rotation of ${id} (reason ${options.reason}, requested by ${requestedBy}): ` +
          `workflow ${started.workflowId}\n  ${started.url}\n`,
      );
      if (options.wait !== true) {
        if (options.json === true) cli.json({ started: true, ...started });
        return EXIT.ok;
      }
      const ending = await follow(client, handle, (status) => report(phaseLine(status)));
      report(`${ending.outcome}: ${ending.detail}\n`);
      if (options.json === true) cli.json({ started: true, ...started, ...ending });
      return SUCCESSFUL_OUTCOMES.has(ending.outcome) ? EXIT.ok : EXIT.failed;
    }),
  );
}

async function refuseRunning(
  cli: CliContext,
  client: Client,
  id: string,
  options: { json?: boolean },
): Promise<ExitCode> {
  const workflowId = rotationWorkflowId(id);
  const description = await client.workflow.getHandle(workflowId).describe();
  const phase = description.typedSearchAttributes.get(ROTATION_PHASE) ?? 'starting';
  const url = cli.workflowUrl(workflowId);
  if (options.json === true) {
    cli.json({
      started: false,
      refused: 'already-running',
      credentialId: id,
      workflowId,
      runId: description.runId,
      phase,
      url,
    });
  }
  cli.io.stderr(
    `rotator: ${id} is already rotating (phase ${phase}, started ${description.startTime.toISOString()}), so ` +
      `nothing was started: workflow ${workflowId}\n  ${url}\n` +
      `  follow it with \`rotator status ${id}\`; steer it with approve, abort, end-overlap or extend-overlap\n`,
  );
  return EXIT.refused;
}

/** How a rotation ended, as the operator reads it. */
export interface Ending {
  outcome: string;
  detail: string;
  /** Every phase the follower saw, in order. */
  phases: string[];
  status?: RotationStatus;
}

/**
 * Follows a rotation to its end, calling `onPhase` at each phase change it sees. Phases shorter than the
 * poll interval may pass unseen; the waits that matter (approval, overlap, an operator) are always seen.
 */
export async function follow(
  client: Client,
  handle: WorkflowHandle<typeof rotateCredential>,
  onPhase: (status: RotationStatus) => void,
): Promise<Ending> {
  const phases: string[] = [];
  let ended = false;
  const result = handle.result().then(
    (status) => ({ status }),
    (error: unknown) => ({ error }),
  );
  void result.then(() => (ended = true));
  const observe = async () => {
    try {
      const status = await handle.query(statusQuery);
      if (status.phase !== phases.at(-1)) {
        phases.push(status.phase);
        onPhase(status);
      }
      return status;
    } catch {
      // Before its first workflow task the rotation cannot answer yet; the next poll asks again.
      return undefined;
    }
  };
  while (!ended) {
    await observe();
    await Promise.race([result, sleep(POLL_MS)]);
  }
  const end = await result;
  if ('status' in end) {
    if (end.status.phase !== phases.at(-1)) {
      phases.push(end.status.phase);
      onPhase(end.status);
    }
    return {
      outcome: end.status.outcome ?? 'failed',
      detail: end.status.detail ?? '',
      phases,
      status: end.status,
    };
  }
  const status = await observe();
  return { ...(await failedEnding(client, handle.workflowId, end.error)), phases, status };
}

/** A failed rotation's outcome as it recorded it (rolled-back or failed), and the failure's message. */
async function failedEnding(client: Client, workflowId: string, error: unknown) {
  if (!(error instanceof WorkflowFailedError)) throw error;
  const description = await client.workflow.getHandle(workflowId).describe();
  const recorded = description.typedSearchAttributes.get(ROTATION_OUTCOME);
  const status = description.status.name.toLowerCase().replace(/_/g, '-');
  return {
    outcome: recorded ?? status,
    detail: error.cause?.message ?? error.message,
  };
}

/** A phase change, with what the operator can do in that phase. */
export function phaseLine(status: RotationStatus): string {
  const id = status.credentialId;
  const hint: Partial<Record<RotationStatus['phase'], string>> = {
    'awaiting-approval': `approve with \`rotator approve ${id}\`, or \`rotator abort ${id} --reason ...\``,
    'running-canary': `${status.canary?.run ?? 'the canary'} runs with the new token${status.canary?.url === undefined ? '' : ` (${status.canary.url})`}; \`rotator abort ${id} --reason ...\` stops it and rolls back`,
    overlapping: `old and new token valid until ${status.overlapEndsAt ?? 'the window ends'}; \`rotator end-overlap ${id}\` or \`rotator extend-overlap ${id} 30m\``,
    'needs-operator': `rollback is stuck: \`rotator retry-rollback ${id}\` once fixed, or \`rotator resolve ${id} --note ...\``,
    done: status.outcome ?? '',
  };
  const extra = hint[status.phase];
  return `  phase ${status.phase}${extra === undefined || extra === '' ? '' : `: ${extra}`}\n`;
}
