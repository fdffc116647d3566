import type { Client } from '@temporalio/client';
// The SDK's own decoding of history payloads, through the client's codec: the rotation's start input is encrypted.
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import type { Command } from 'commander';
import { z } from 'zod';
import { approve } from '../../workflows/operator';
import {
  agentSigner,
  keyFileSigner,
  parsePublicKey,
  signApproval,
  SshKeyError,
  type ApprovalSigner,
} from '../approval';
import { sameName } from '../inventory/approvers';
import { validate } from '../validation';
import { CliContext, CliError, EXIT, parseOptions, withJson } from './context';
import { send } from './steer';

const approveOptions = z.object({
  requestedBy: z.string().optional(),
  breakGlass: z.boolean().optional(),
  key: z.string().min(1).optional(),
  agent: z.boolean().optional(),
  json: z.boolean().optional(),
});

export function registerApprove(program: Command, cli: CliContext): void {
  withJson(
    program
      .command('approve')
      .summary('approve a rotation that awaits approval, signed with your SSH key')
      .description(
        "approve a rotation that awaits approval (policy.requireApproval): signs the rotation's workflow id, " +
          'run id, credential, requester, your name and the time with the ed25519 key the inventory lists for ' +
          'you under approvers, through the SSH agent (the default when SSH_AUTH_SOCK is set) or --key; ' +
          'exits 3 when no rotation awaits approval or the rotation refuses the approval',
      )
      .argument('<id>', 'credential id from the inventory')
      .option('--key <path>', 'an unencrypted OpenSSH ed25519 private key file to sign with')
      .option('--agent', 'sign through the SSH agent at $SSH_AUTH_SOCK')
      .option('--requested-by <name>', 'who approves: your name under approvers (default: $USER)')
      .option(
        '--break-glass',
        "acknowledge the credential's break-glass rotation, which awaits review (policy.breakGlassReview)",
      ),
  ).action(
    cli.action(async (id: string, raw: unknown) => {
      const options = parseOptions(approveOptions, raw);
      if (options.key !== undefined && options.agent === true) {
        throw new CliError('--key and --agent: choose one', EXIT.usage);
      }
      const approvedBy = cli.requester(options.requestedBy);
      // The signer is chosen once the rotation is known to run, so that "nothing to approve" comes first.
      let fingerprint = '';
      return send(
        cli,
        id,
        {
          command: 'approve',
          update: approve,
          breakGlass: options.breakGlass === true,
          done: (credential, at) =>
            `approved the ${options.breakGlass === true ? 'break-glass rotation' : 'rotation'} of ${credential} at ${at}, signed by ${fingerprint}`,
        },
        async ({ client, workflowId, runId }) => {
          const { approvers } = await cli.inventory();
          const listed = approvers.find((approver) => sameName(approver.name, approvedBy));
          if (listed === undefined) {
            throw new CliError(
              `${approvedBy} is not an approver in the inventory ${cli.config.inventory} (approvers): ` +
                'pass your approver name with --requested-by',
              EXIT.usage,
            );
          }
          const signer = await signerFor(cli, options, parsePublicKey(listed.publicKey));
          fingerprint = signer.publicKey.fingerprint;
          const requestedBy = await requesterOf(client, workflowId, runId);
          return signApproval(
            signer,
            { workflowId, runId, credentialId: id, requestedBy },
            listed.name,
            new Date(),
          );
        },
        options.json === true,
      );
    }),
  );
}

/** The key file, or else the agent; a key that is not the listed one is refused before anything is signed. */
async function signerFor(
  cli: CliContext,
  options: z.output<typeof approveOptions>,
  listed: ReturnType<typeof parsePublicKey>,
): Promise<ApprovalSigner> {
  const socket = cli.env.SSH_AUTH_SOCK;
  try {
    if (options.key !== undefined) {
      const signer = await keyFileSigner(options.key);
      if (!signer.publicKey.blob.equals(listed.blob)) {
        throw new SshKeyError(
          `${options.key} is the key ${signer.publicKey.fingerprint}, but the inventory lists ${listed.fingerprint} for you`,
        );
      }
      return signer;
    }
    if (socket === undefined || socket === '') {
      throw new SshKeyError('sign with --key <path>, or start an SSH agent (SSH_AUTH_SOCK is not set)');
    }
    return await agentSigner(socket, listed);
  } catch (error) {
    if (error instanceof SshKeyError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
}

/** What a rotation's and a break-glass rotation's start inputs both carry: who asked. */
const requesterSchema = z.object({ requestedBy: z.string().min(1) });

/** Who started the run, from its start input: the name the workflow compares the approver with. */
async function requesterOf(client: Client, workflowId: string, runId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const [request] = await decodeArrayFromPayloads(
    client.options.loadedDataConverter,
    started?.input?.payloads,
  );
  const parsed = validate(requesterSchema, request);
  if (!parsed.success) {
    throw new CliError(
      `the rotation ${workflowId} (run ${runId}) has no readable request to approve`,
      EXIT.refused,
    );
  }
  return parsed.data.requestedBy;
}
