import { z } from 'zod';
import { entriesOf } from '../kinds/define';
import { CANARIES, CONSUMERS, DEPENDENTS, SOURCES, TARGETS } from '../kinds';
import { storeEntrySchema, storeRefOf } from '../stores';
import { secretPathSchema } from '../vault';
import { approverRules, approversSchema, policyApprovers } from './approvers';
import { discoveryRules, discoverySchema, placeholderRule } from './discovery';
import { duration, positiveDuration } from './durations';
import { slug } from './fields';
import { providerKindsSchema } from './providers';
import { credentialRules, exactlyOneOf, inventoryRules, targetFieldRule } from './rules';
import { crossFieldRule } from '../validation';

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

export const consumerSchema = z
  .discriminatedUnion('kind', entriesOf(CONSUMERS))
  .describe('where jobs that read the credential run, for a job-aware overlap');

export const canarySchema = z
  .discriminatedUnion('kind', entriesOf(CANARIES))
  .describe(
    'a pipeline that uses the new value after the targets hold it and before it is promoted; ' +
      'the rotation rolls back when it fails or times out',
  );

/** The fields each source kind's secret holds beside the token, which a target's `field` may name. */
const TARGET_FIELDS_OF = new Map<string, readonly string[]>(
  SOURCES.map((source) => [source.kind, ('targetFields' in source ? source.targetFields : undefined) ?? []]),
);

const DEFAULT_OVERLAP = '15m';
const DEFAULT_OVERLAP_MS = duration.parse(DEFAULT_OVERLAP);

/** A job-aware overlap: the old value stays valid until the jobs that may hold it have ended. */
const drainSchema = z
  .object({
    until: z
      .literal('jobs-drained')
      .describe('end the overlap once no job or workflow run that started before the switch still runs'),
    min: duration.describe('the least the old value stays valid after the switch'),
    max: positiveDuration.describe('the most: then the old value is revoked, or held with onMax: hold'),
    onMax: z
      .enum(['revoke', 'hold'])
      .default('revoke')
      .describe('at max with jobs still running: revoke with an alert, or hold for an operator'),
    poll: positiveDuration.prefault('30s').describe('how often the running jobs are listed'),
  })
  .strict()
  .check(
    crossFieldRule((drain, report) => {
      // Checked even when the object itself did not parse.
      const { min, max } = (drain ?? {}) as { min?: unknown; max?: unknown };
      if (typeof min === 'number' && typeof max === 'number' && min > max)
        report(['min'], 'must not be longer than max');
    }),
  );

const policySchema = z
  .object({
    every: positiveDuration.prefault('24h').describe('how often to rotate'),
    jitter: duration
      .prefault(0)
      .describe('up to this much random delay per rotation, so credentials do not all rotate at once'),
    rotateBefore: positiveDuration
      .optional()
      .describe('rotate early when the current credential expires within this'),
    overlap: z
      .union([duration, drainSchema], {
        error:
          'expected a duration such as "15m", or { until: jobs-drained, min, max } for a job-aware overlap',
      })
      .optional()
      .describe(
        `how long the old value stays valid beside the new one before it is revoked; default ${DEFAULT_OVERLAP}, ` +
          'and must be 0 for sources that rotate in place. A duration, or { until: jobs-drained, min, max } ' +
          'to wait for the jobs that started before the switch',
      ),
    requireApproval: z.boolean().default(false).describe('wait for an operator to approve each rotation'),
    approvalTimeout: positiveDuration
      .prefault('24h')
      .describe('with requireApproval: how long a rotation waits for approval before it is cancelled'),
    approvers: policyApprovers,
    breakGlassReview: z
      .boolean()
      .default(false)
      .describe(
        'after a break-glass rotation, an approver acknowledges it with a signed approval ' +
          '(`rotator approve <id> --break-glass`); it stays open in phase awaiting-review until then',
      ),
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
    consumers: z
      .array(consumerSchema)
      .default([])
      .describe(
        "where else jobs read the credential, beyond the targets' own projects and repositories " +
          '(a group variable, an organization secret)',
      ),
    canary: canarySchema.optional(),
    policy: policySchema.prefault({}),
  })
  .strict()
  .check(credentialRules)
  .check(targetFieldRule((kind) => TARGET_FIELDS_OF.get(kind)))
  .check(placeholderRule)
  .check(exactlyOneOf('vault', 'store'))
  .transform(({ vault, store, ...credential }) => ({
    ...credential,
    // exactlyOneOf refused a credential with neither or both.
    store: store === undefined ? vaultRefOf(vault) : storeRefOf(store),
    policy: policyOf(credential.policy, credential.source.strategy),
  }));

/** The overlap as plans carry it: `overlap` the fixed window (a drain's `min`), and `drain` when job-aware. */
function policyOf(policy: z.output<typeof policySchema>, strategy: string | undefined) {
  const { overlap, ...rest } = policy;
  if (typeof overlap !== 'object')
    return {
      ...rest,
      overlap: overlap ?? (strategy === 'rotate-in-place' ? 0 : DEFAULT_OVERLAP_MS),
      drain: undefined,
    };
  const { min, max, onMax, poll } = overlap;
  return { ...rest, overlap: min, drain: { max, onMax, poll } };
}

function vaultRefOf(vault: z.output<typeof secretPathSchema> | undefined) {
  if (vault === undefined) throw new Error('a credential without vault or store passed the inventory rules');
  return vault;
}

/** The inventory around its credentials: a credential's own schema, or one that takes credentials already checked. */
function inventoryOf<C extends z.ZodType>(credential: C) {
  return z
    .object({
      providers: providerKindsSchema
        .prefault({})
        .describe('GitLab and GitHub instances and the admin credentials the worker uses'),
      credentials: z.array(credential).min(1, 'expected at least one credential'),
      approvers: approversSchema.default([]),
      discovery: discoverySchema
        .prefault({})
        .describe(
          'tokens no credential owns: where `rotator discover`, the health check and the expiry gauges look',
        ),
    })
    .strict()
    .check(inventoryRules)
    .check(approverRules)
    .check(discoveryRules);
}

export const inventorySchema = inventoryOf(credentialSchema).meta({
  title: 'cred-rotator inventory',
  description: 'What cred-rotator rotates: see docs/inventory.md.',
});

/**
 * An inventory whose credentials each passed credentialSchema already (a reload reuses the unchanged ones):
 * the rest of the file, and the rules across credentials, are checked as inventorySchema checks them.
 */
export const checkedCredentialsInventorySchema = inventoryOf(
  z.custom<z.output<typeof credentialSchema>>(() => true),
);

export type Inventory = z.output<typeof inventorySchema>;
export type Credential = Inventory['credentials'][number];

/** What editors check and complete: the inventory as written, before defaults and normalisation. */
export function inventoryJsonSchema() {
  // draft-07 is the draft YAML and JSON editors support best.
  return z.toJSONSchema(inventorySchema, { io: 'input', target: 'draft-07' });
}
