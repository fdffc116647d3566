import type { Inventory } from './inventory/schema';
import { storedFieldSchema, type StoreRef } from './stores';

/** What rotating a secret kept in Secrets Manager takes: read, stage, move labels, and metadata (docs/stores.md). */
const ROTATED_ACTIONS = [
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:ListSecretVersionIds',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
];
/** What reading an admin token or client secret kept there takes: its current value only. */
const READ_ACTIONS = ['secretsmanager:GetSecretValue'];

type AwsRef = Extract<StoreRef, { store: 'aws-secrets-manager' }>;

/**
 * The ARN a secret is granted by: the inventory's ARN as it is, or a name with the six random characters
 * Secrets Manager appends to it (`-??????`), in the secret's region and `account` (`*`: any).
 */
function secretArn({ region, secretId }: AwsRef, account: string): string {
  return secretId.startsWith('arn:')
    ? secretId
    : `arn:aws:secretsmanager:${region}:${account}:secret:${secretId}-??????`;
}

const awsRefOf = (at: StoreRef): AwsRef | undefined =>
  'store' in at && at.store === 'aws-secrets-manager' ? at : undefined;

/** Every stored field (admin tokens, client secrets) named anywhere in `value`, kept in Secrets Manager. */
function awsFields(value: unknown): AwsRef[] {
  const field = storedFieldSchema.safeParse(value);
  if (field.success) {
    const ref = 'store' in field.data ? awsRefOf(field.data.store) : undefined;
    return ref === undefined ? [] : [ref];
  }
  if (Array.isArray(value)) return value.flatMap(awsFields);
  return typeof value === 'object' && value !== null ? Object.values(value).flatMap(awsFields) : [];
}

/**
 * The worker's least-privilege IAM policy for an inventory: the rotation's actions on each secret a credential
 * is kept in, and `GetSecretValue` alone on each secret an admin token or client secret is read from. KMS
 * permissions for a customer managed key are the operator's to add (docs/stores.md). Undefined when the
 * inventory keeps nothing in Secrets Manager.
 */
export function awsPolicy(inventory: Inventory, account = '*'): string | undefined {
  const rotated = [
    ...new Set(
      inventory.credentials.flatMap(({ store }) => {
        const ref = awsRefOf(store);
        return ref === undefined ? [] : [secretArn(ref, account)];
      }),
    ),
  ].sort();
  const read = [
    ...new Set(
      [inventory.providers, ...inventory.credentials.map(({ source }) => source)]
        .flatMap(awsFields)
        .map((ref) => secretArn(ref, account)),
    ),
  ]
    .filter((arn) => !rotated.includes(arn))
    .sort();
  if (rotated.length === 0 && read.length === 0) return undefined;
  const statement = (sid: string, actions: string[], resources: string[]) =>
    resources.length === 0 ? [] : [{ Sid: sid, Effect: 'Allow', Action: actions, Resource: resources }];
  return `${JSON.stringify(
    {
      Version: '2012-10-17',
      Statement: [
        ...statement('RotateCredentials', ROTATED_ACTIONS, rotated),
        ...statement('ReadAdminSecrets', READ_ACTIONS, read),
      ],
    },
    null,
    2,
  )}\n`;
}
