import { z } from 'zod';
import { parsePublicKey, SshKeyError } from '../approval/ssh';
import { crossFieldRule } from '../validation';
import { distinctList, slug } from './fields';
import { stringAt } from './rules';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;
const EXPECTED_NAME =
  'expected a user name such as "alice" or "a.smith": letters, digits, ".", "_", "@", "-"';

/** An approver's name: what they pass as --requested-by (or their $USER), so that it can equal a requester's. */
export const approverName = z
  .string({ error: EXPECTED_NAME })
  .max(64, 'expected at most 64 characters')
  .regex(NAME, EXPECTED_NAME);

/** Names are compared as operators mean them: `Alice` requesting and `alice` approving is one person. */
export function sameName(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

const publicKey = z
  .string({ error: 'expected an OpenSSH public key: "ssh-ed25519 AAAA... comment"' })
  .superRefine((line, ctx) => {
    try {
      parsePublicKey(line);
    } catch (error) {
      if (!(error instanceof SshKeyError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message });
    }
  });

export const approverSchema = z
  .object({
    name: approverName,
    publicKey: publicKey.describe(
      'the ed25519 key the approver signs approvals with, as in their .pub file: "ssh-ed25519 AAAA... comment"',
    ),
    environments: distinctList(slug('production'), 'environment')
      .min(1, 'expected at least one environment, or no list for every environment')
      .optional()
      .describe('the environments this approver may approve rotations in; every environment if left out'),
  })
  .strict();

export const approversSchema = z
  .array(approverSchema)
  .describe('who may approve rotations (policy.requireApproval), each with the SSH key they sign with');

/** The policy field naming who may approve one credential's rotations. */
export const policyApprovers = distinctList(approverName, 'approver')
  .min(1, 'expected at least one approver, or no list for every approver of the environment')
  .optional()
  .describe(
    'with requireApproval: the approvers (by name) who may approve; by default every approver of the environment',
  );

/** What decides whether an approver may approve a credential's rotations. */
export interface ApproverScope {
  name: string;
  environments?: readonly string[] | undefined;
}
export interface CredentialScope {
  environment: string;
  policy: { approvers?: readonly string[] | undefined };
}

/** An approver may approve a credential when the environment is theirs and the credential's list names them. */
export function mayApprove(approver: ApproverScope, credential: CredentialScope): boolean {
  return (
    (approver.environments === undefined || approver.environments.includes(credential.environment)) &&
    (credential.policy.approvers === undefined ||
      credential.policy.approvers.some((name) => sameName(name, approver.name)))
  );
}

/** A field of what may be any value at all: the rule runs on invalid inventories too. */
function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, key)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;
}

/**
 * Approvers against each other and against the credentials. Whoever requests a rotation may not approve it,
 * so a credential that requires approval needs two eligible approvers: then whichever of them asks, the
 * other can approve.
 */
export const approverRules = crossFieldRule((inventory, report) => {
  const approvers = list(field(inventory, 'approvers')).map((approver, index) => ({
    index,
    name: stringAt(approver, 'name'),
    key: stringAt(approver, 'publicKey'),
    environments: strings(field(approver, 'environments')),
  }));

  const seenNames: { index: number; name: string }[] = [];
  const seenKeys = new Map<string, number>();
  for (const { index, name, key } of approvers) {
    if (name !== undefined) {
      const first = seenNames.find((seen) => sameName(seen.name, name));
      if (first === undefined) seenNames.push({ index, name });
      else
        report(['approvers', index, 'name'], `must be unique: approvers[${first.index}] has the same name`);
    }
    const fingerprint = fingerprintOrUndefined(key);
    if (fingerprint !== undefined) {
      const first = seenKeys.get(fingerprint);
      if (first === undefined) seenKeys.set(fingerprint, index);
      else
        report(
          ['approvers', index, 'publicKey'],
          `approvers[${first}] has the same key: a key stands for one person`,
        );
    }
  }

  list(field(inventory, 'credentials')).forEach((credential, index) => {
    const environment = stringAt(credential, 'environment');
    const policy = field(credential, 'policy');
    const requireApproval = field(policy, 'requireApproval') === true;
    const review = field(policy, 'breakGlassReview') === true;
    const named = strings(field(policy, 'approvers'));
    if (environment === undefined) return;

    named?.forEach((name, position) => {
      const at = ['credentials', index, 'policy', 'approvers', position];
      const approver = approvers.find((entry) => entry.name !== undefined && sameName(entry.name, name));
      if (approver === undefined) report(at, 'expected the name of an approver under approvers');
      else if (!mayApprove({ name, environments: approver.environments }, { environment, policy: {} })) {
        report(
          at,
          `approvers[${approver.index}] may not approve in this credential's environment (its environments)`,
        );
      }
    });
    if (named !== undefined && !requireApproval && !review) {
      report(
        ['credentials', index, 'policy', 'approvers'],
        'applies only with requireApproval or breakGlassReview: true',
      );
    }
    if (!requireApproval && !review) return;
    const eligible = approvers.filter(
      ({ name, environments }) =>
        name !== undefined &&
        mayApprove({ name, environments }, { environment, policy: { approvers: named } }),
    );
    // Counted, not named: the rule also runs on invalid inventories, whose values may be pasted secrets.
    if (eligible.length < 2) {
      report(
        ['credentials', index, 'policy', requireApproval ? 'requireApproval' : 'breakGlassReview'],
        `needs at least two approvers who may approve in its environment` +
          `${named === undefined ? '' : ' and are named in policy.approvers'} (found ${eligible.length}): ` +
          'whoever requests a rotation cannot approve it, so another must be able to',
      );
    }
  });
});

function fingerprintOrUndefined(line: string | undefined): string | undefined {
  if (line === undefined) return undefined;
  try {
    return parsePublicKey(line).fingerprint;
  } catch {
    // The key's own field reports why it cannot be parsed.
    return undefined;
  }
}
