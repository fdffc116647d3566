import { z } from 'zod';
import { entriesOf } from '../kinds/define';
import { DEPENDENTS, SOURCES, TARGETS } from '../kinds';
import { storeEntrySchema, storeRefOf } from '../stores';
import { secretPathSchema } from '../vault';
import { approverRules, approversSchema, policyApprovers } from './approvers';
import { duration, positiveDuration } from './durations';
import { slug } from './fields';
import { providerKindsSchema } from './providers';
import { credentialRules, exactlyOneOf, inventoryRules } from './rules';

/* The kinds of source, target and dependent are listed in src/kinds/index.ts, one module each. */
export const sourceSchema = z
  .discriminatedUnion('kind', entriesOf(SOURCES))
  .describe('where the credential is minted');

export const targetSchema = z
  .discriminatedUnion('kind', entriesOf(TARGETS))
  .describe('where each new value is written');

export const dependentSchema = z
  .discriminatedUnion('kind', entriesOf(DEPENDENTS))
  .describe('what is paused while the credential rotates');

const DEFAULT_OVERLAP = '15m';
const DEFAULT_OVERLAP_MS = duration.parse(DEFAULT_OVERLAP);

const policySchema = z
  .object({
    every: positiveDuration.prefault('24h').describe('how often to rotate'),
    jitter: duration
      .prefault(0)
      .describe('up to this much random delay per rotation, so credentials do not all rotate at once'),
    rotateBefore: positiveDuration
      .optional()
      .describe('rotate early when the current credential expires within this'),
    overlap: duration
      .optional()
      .describe(
        `how long the old value stays valid beside the new one before it is revoked; default ${DEFAULT_OVERLAP}, ` +
          'and must be 0 for sources that rotate in place',
      ),
    requireApproval: z.boolean().default(false).describe('wait for an operator to approve each rotation'),
    approvalTimeout: positiveDuration
      .prefault('24h')
      .describe('with requireApproval: how long a rotation waits for approval before it is cancelled'),
    approvers: policyApprovers,
  })
  .strict();

export const credentialSchema = z
  .object({
    id: slug('gitlab-deployer').describe('unique name of the credential'),
    description: z.string().min(1).describe('what the credential is for'),
    environment: slug('production').describe('e.g. production, staging, development'),
    owner: z.string().min(1).describe('team or contact alerted about this credential'),
    source: sourceSchema,
    vault: secretPathSchema
      .describe('KV v2 secret that is the system of record; each environment needs its own mount')
      .optional(),
    store: storeEntrySchema
      .describe('the system of record when it is not Vault KV v2 (then leave out `vault`)')
      .optional(),
    targets: z.array(targetSchema).min(1, 'expected at least one target'),
    dependents: z.array(dependentSchema).default([]),
    policy: policySchema.prefault({}),
  })
  .strict()
  .check(credentialRules)
  .check(exactlyOneOf('vault', 'store'))
  .transform(({ vault, store, ...credential }) => ({
    ...credential,
    // exactlyOneOf refused a credential with neither or both.
    store: store === undefined ? vaultRefOf(vault) : storeRefOf(store),
    policy: {
      ...credential.policy,
      overlap:
        credential.policy.overlap ??
        (credential.source.strategy === 'rotate-in-place' ? 0 : DEFAULT_OVERLAP_MS),
    },
  }));

function vaultRefOf(vault: z.output<typeof secretPathSchema> | undefined) {
  if (vault === undefined) throw new Error('a credential without vault or store passed the inventory rules');
  return vault;
}

export const inventorySchema = z
  .object({
    providers: providerKindsSchema
      .prefault({})
      .describe('GitLab and GitHub instances and the admin credentials the worker uses'),
    credentials: z.array(credentialSchema).min(1, 'expected at least one credential'),
    approvers: approversSchema.default([]),
  })
  .strict()
  .check(inventoryRules)
  .check(approverRules)
  .meta({
    title: 'cred-rotator inventory',
    description: 'What cred-rotator rotates: see docs/inventory.md.',
  });

export type Inventory = z.output<typeof inventorySchema>;
export type Credential = Inventory['credentials'][number];

/** What editors check and complete: the inventory as written, before defaults and normalisation. */
export function inventoryJsonSchema() {
  // draft-07 is the draft YAML and JSON editors support best.
  return z.toJSONSchema(inventorySchema, { io: 'input', target: 'draft-07' });
}
