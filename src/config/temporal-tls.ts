import { readFile } from 'node:fs/promises';
import type { TLSConfig } from '@temporalio/client';

/** The TEMPORAL_TLS_* variables the worker and the CLI both read. */
export interface TemporalTlsVariables {
  TEMPORAL_TLS_CERT?: string;
  TEMPORAL_TLS_KEY?: string;
  TEMPORAL_TLS_CA?: string;
  TEMPORAL_TLS_SERVER_NAME?: string;
}

export interface TemporalTlsSettings {
  caFile?: string;
  serverName?: string;
  /** A client certificate with its key: mutual TLS. */
  client?: { certFile: string; keyFile: string };
}

/** Any TLS setting turns TLS on; a client certificate (with its key) makes it mutual. */
export function temporalTlsSettings(variables: TemporalTlsVariables): TemporalTlsSettings | undefined {
  const { TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_SERVER_NAME } = variables;
  const any = [TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_SERVER_NAME].some(
    (value) => value !== undefined,
  );
  if (!any) return undefined;
  return {
    caFile: TEMPORAL_TLS_CA,
    serverName: TEMPORAL_TLS_SERVER_NAME,
    client:
      TEMPORAL_TLS_CERT === undefined || TEMPORAL_TLS_KEY === undefined
        ? undefined
        : { certFile: TEMPORAL_TLS_CERT, keyFile: TEMPORAL_TLS_KEY },
  };
}

/** Reads a TLS file; `variable` names where its path came from, for the caller's error. */
export type TlsFileReader = (file: string, variable: string) => Promise<Buffer>;

/** The settings as the Temporal client takes them, with the files read. */
export async function temporalTlsConfig(
  tls: TemporalTlsSettings | undefined,
  read: TlsFileReader = (file) => readFile(file),
): Promise<TLSConfig | undefined> {
  if (tls === undefined) return undefined;
  return {
    serverNameOverride: tls.serverName,
    serverRootCACertificate: tls.caFile === undefined ? undefined : await read(tls.caFile, 'TEMPORAL_TLS_CA'),
    clientCertPair:
      tls.client === undefined
        ? undefined
        : {
            crt: await read(tls.client.certFile, 'TEMPORAL_TLS_CERT'),
            key: await read(tls.client.keyFile, 'TEMPORAL_TLS_KEY'),
          },
  };
}
