import { randomUUID } from 'node:crypto';
import createVaultClient from 'node-vault';

/** What an operator sets up once with an admin token: the policy, the role, and its ids. */
export interface AppRoleSetup {
  role: string;
  roleId: string;
  newSecretId(): Promise<string>;
  destroySecretId(secretId: string): Promise<void>;
}

/**
 * Sets up AppRole on a Vault as docs/security.md tells operators to (the root token is used for
 * this only): the AppRole auth method at `approle/`, `policy` under a name of its own, and a role whose tokens
 * carry that policy alone (no `default` policy), with the TTLs given.
 */
export async function setUpAppRole(
  vault: { endpoint: string; token: string; caCert?: string },
  policy: string,
  ttl: { token: string; max: string },
): Promise<AppRoleSetup> {
  const root = createVaultClient({
    apiVersion: 'v1',
    endpoint: vault.endpoint,
    token: vault.token,
    requestOptions: vault.caCert === undefined ? undefined : { ca: vault.caCert },
  });
  const auths = (await root.read('sys/auth')) as { data: Record<string, unknown> };
  if (!('approle/' in auths.data)) {
    // Test files may run at once, each with a role of its own: another may have enabled it meanwhile.
    await root.write('sys/auth/approle', { type: 'approle' }).catch((error: unknown) => {
      if (!/path is already in use/.test(String(error))) throw error;
    });
  }
  const role = `rotator-${randomUUID().slice(0, 8)}`;
  await root.write(`sys/policies/acl/${role}`, { policy });
  await root.write(`auth/approle/role/${role}`, {
    token_policies: role,
    token_no_default_policy: true,
    token_ttl: ttl.token,
    token_max_ttl: ttl.max,
  });
  const { data } = (await root.read(`auth/approle/role/${role}/role-id`)) as { data: { role_id: string } };
  return {
    role,
    roleId: data.role_id,
    async newSecretId() {
      const answer = (await root.write(`auth/approle/role/${role}/secret-id`, {})) as {
        data: { secret_id: string };
      };
      return answer.data.secret_id;
    },
    async destroySecretId(secretId) {
      await root.write(`auth/approle/role/${role}/secret-id/destroy`, { secret_id: secretId });
    },
  };
}
