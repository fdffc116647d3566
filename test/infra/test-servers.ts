/** The KV v2 mount the global setup enables for tests. */
export const TEST_KV_MOUNT = 'kv-test';

export interface TestServers {
  temporalAddress: string;
  vault: { endpoint: string; token: string };
  /** moto's server: the AWS Secrets Manager API, in memory, for any region and any access key. */
  aws: { endpoint: string };
  /** This run's log folder: server logs, and the values the simulators minted for the secret scan. */
  runDir: string;
  /** The servers' executables, for tests that start their own (the worker's embedded default, the sandbox). */
  binaries: { temporalCli: string; vault: string };
  /**
   * The payload codec keys (ROTATOR_CODEC_KEYS form) of this run: tests that encrypt payloads on the shared
   * server use them, so that the secret scan can decrypt those histories and search them too.
   */
  codecKeys: string;
  /** The audit chain's key (base64), in Vault at the worker's default ROTATOR_AUDIT_KEY_PATH. */
  auditKey: string;
}

const VARIABLE = 'ROTATOR_TEST_SERVERS';

/** Jest starts its test workers after global setup, so they inherit what it puts in the environment. */
export function exportTestServers(servers: TestServers): void {
  process.env[VARIABLE] = JSON.stringify(servers);
}

export function testServers(): TestServers {
  const exported = process.env[VARIABLE];
  if (!exported)
    throw new Error(
      `${VARIABLE} is not set: run the tests through jest, whose global setup starts the servers`,
    );
  return JSON.parse(exported) as TestServers;
}

/** Whether this process runs under jest's global setup (the simulators also run in the sandbox). */
export function isTestRun(): boolean {
  return Boolean(process.env[VARIABLE]);
}
