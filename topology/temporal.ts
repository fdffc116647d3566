import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { temporalTlsConfig } from '../src/config/temporal-tls';
import { ROTATION_SEARCH_ATTRIBUTES } from '../src/search-attributes';
import type { CertPair, Certificates } from './certificates';
import { privateDir, renderTemplate, writePrivate } from './files';
import type { Postgres } from './postgres';
import { freePort, run, startService, waitFor, type Service } from './process';

export interface TemporalServer {
  /** The frontend, mTLS only. */
  address: string;
  namespace: string;
  ports: Record<string, number>;
  configFile: string;
  service: Service;
}

/** The server's two databases and the schema folder (in the module's `schema/postgresql/v12/`) of each. */
const DATABASES = [
  { name: 'temporal', schema: 'temporal' },
  { name: 'temporal_visibility', schema: 'visibility' },
];
/** How long closed rotations stay visible: enough for `rotator verify-state` to see the last few. */
const RETENTION = '7d';
/** The first start creates every shard and system workflow: about ten seconds on two cores. */
const START_TIMEOUT_MS = 120_000;
const { IndexedValueType } = temporal.api.enums.v1;

/** Creates both databases and brings their schemas to the version this server expects, as an operator would. */
export async function setUpSchemas(sqlTool: string, schemaDir: string, postgres: Postgres): Promise<void> {
  for (const { name, schema } of DATABASES) {
    const args = [
      '--plugin=postgres12',
      `--endpoint=${postgres.host}`,
      `--port=${postgres.port}`,
      `--user=${postgres.user}`,
      `--database=${name}`,
    ];
    // The password in the environment, which only this user can read, never on the command line.
    const env = { SQL_PASSWORD: postgres.password };
    await run(sqlTool, [...args, 'create-database'], { env });
    await run(sqlTool, [...args, 'setup-schema', '--version=0.0'], { env });
    await run(sqlTool, [...args, 'update-schema', `--schema-dir=${join(schemaDir, schema, 'versioned')}`], {
      env,
    });
  }
}

/** A client connection with `client`'s certificate, as the worker and the CLI make theirs. */
export async function connectTemporal(
  address: string,
  caFile: string,
  client: CertPair,
): Promise<Connection> {
  return Connection.connect({
    address,
    connectTimeout: '2s',
    // The certificate names both; the name keeps TLS's server name from being an IP address.
    tls: await temporalTlsConfig({ caFile, client, serverName: 'localhost' }),
  });
}

/**
 * Starts the Temporal server (frontend, history, matching and worker in one process) on PostgreSQL with
 * deploy/topology/temporal.yaml, then registers the namespace and the rotation's search attributes. Ready
 * once a visibility query on those attributes succeeds: the frontend's namespace cache has them then.
 */
export async function startTemporalServer(options: {
  bin: string;
  dir: string;
  postgres: Postgres;
  certificates: Certificates;
  namespace: string;
}): Promise<TemporalServer> {
  const { bin, postgres, certificates, namespace } = options;
  const dir = privateDir(options.dir);
  const names = [
    'FRONTEND_PORT',
    'FRONTEND_MEMBERSHIP_PORT',
    'FRONTEND_HTTP_PORT',
    'HISTORY_PORT',
    'HISTORY_MEMBERSHIP_PORT',
    'MATCHING_PORT',
    'MATCHING_MEMBERSHIP_PORT',
    'WORKER_PORT',
    'WORKER_MEMBERSHIP_PORT',
    'METRICS_PORT',
  ];
  const ports: Record<string, number> = {};
  for (const name of names) ports[name] = await freePort();
  // The rendered file holds the database password: 0600 in the run's private folder.
  const configFile = writePrivate(
    join(dir, 'temporal.yaml'),
    renderTemplate('temporal.yaml', {
      ...ports,
      // Every service on loopback: nothing of the topology is reachable from another host.
      BIND_IP: '127.0.0.1',
      // The frontend's certificate names localhost, as the workers and the CLI ask for it.
      TLS_SERVER_NAME: 'localhost',
      POSTGRES_ADDRESS: `${postgres.host}:${postgres.port}`,
      POSTGRES_USER: postgres.user,
      POSTGRES_PASSWORD: postgres.password,
      TLS_CA: certificates.caFile,
      TLS_SERVER_CERT: certificates.temporalServer.certFile,
      TLS_SERVER_KEY: certificates.temporalServer.keyFile,
      TLS_SYSTEM_CERT: certificates.temporalSystem.certFile,
      TLS_SYSTEM_KEY: certificates.temporalSystem.keyFile,
    }),
  );
  // No authorizer: a client certificate from the topology's CA is the only way in.
  const service = startService(
    'the Temporal server',
    bin,
    ['--root', dir, '--config', '.', '--env', 'temporal', '--allow-no-auth', 'start'],
    join(dir, 'temporal.log'),
    { graceMs: 15_000 },
  );
  const address = `127.0.0.1:${ports.FRONTEND_PORT}`;
  await waitFor(service, () => registered(address, namespace, certificates), START_TIMEOUT_MS);
  return { address, namespace, ports, configFile, service };
}

/** Registers what is missing; true once rotations can start and be listed by their search attributes. */
async function registered(address: string, namespace: string, certificates: Certificates) {
  const connection = await connectTemporal(address, certificates.caFile, certificates.cli);
  try {
    const { workflowService, operatorService } = connection;
    const exists = await workflowService.describeNamespace({ namespace }).then(
      () => true,
      () => false,
    );
    if (!exists)
      await workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs(RETENTION),
      });
    const { customAttributes } = await operatorService.listSearchAttributes({ namespace });
    const missing = ROTATION_SEARCH_ATTRIBUTES.filter((key) => !(key.name in customAttributes));
    if (missing.length > 0)
      await operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(
          missing.map((key) => [key.name, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
        ),
      });
    const query = ROTATION_SEARCH_ATTRIBUTES.map((key) => `${key.name} = 'ready'`).join(' AND ');
    await workflowService.countWorkflowExecutions({ namespace, query });
    return true;
  } finally {
    await connection.close();
  }
}
