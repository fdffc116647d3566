import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateDir } from './files';
import { run } from './process';

/** A certificate and its key, as PEM files. */
export interface CertPair {
  certFile: string;
  keyFile: string;
}

/** The topology's private CA and what it issued. */
export interface Certificates {
  caFile: string;
  temporalServer: CertPair;
  vaultServer: CertPair;
  /** The Temporal server's own worker service, a client of its frontend like any other. */
  temporalSystem: CertPair;
  /** The operator's CLI and the tooling's own client. */
  cli: CertPair;
  workers: CertPair[];
}

/** Long enough for a topology left running over a holiday, short enough that a stolen copy soon expires. */
const DAYS = '30';
/** P-256: quick to make, and accepted by Go (Temporal, Vault), node and the SDK's Rust core alike. */
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
/** The servers listen on loopback and are reached by either name. */
const SERVER_NAMES = 'subjectAltName=DNS:localhost,IP:127.0.0.1';

/**
 * Makes a private CA in `dir` (0700; openssl writes keys 0600) and with it a server certificate each for
 * Temporal's frontend and Vault (serverAuth only), and a client certificate each for the workers, the CLI and
 * Temporal's system worker (clientAuth only): a client's certificate cannot serve, and a server's cannot log
 * in to the frontend.
 */
export async function makeCertificates(dir: string, workers: number): Promise<Certificates> {
  privateDir(dir);
  await openssl(
    dir,
    'req', '-x509', ...KEY_ARGS, '-days', DAYS, '-subj', '/CN=cred-rotator topology CA',
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', 'ca.key', '-out', 'ca.pem',
  ); // prettier-ignore
  const issue = (name: string, usage: 'serverAuth' | 'clientAuth') => issueCertificate(dir, name, usage);
  // One at a time: each issue updates the CA's serial file.
  const issued = {
    caFile: join(dir, 'ca.pem'),
    temporalServer: await issue('temporal-frontend', 'serverAuth'),
    vaultServer: await issue('vault', 'serverAuth'),
    temporalSystem: await issue('temporal-system-worker', 'clientAuth'),
    cli: await issue('cli', 'clientAuth'),
    workers: [] as CertPair[],
  };
  for (let worker = 1; worker <= workers; worker++)
    issued.workers.push(await issue(`worker-${worker}`, 'clientAuth'));
  return issued;
}

const openssl = (dir: string, ...args: string[]) => run('openssl', args, { cwd: dir });

/**
 * Issues `name`'s certificate and key with the CA of `dir`, valid for `days` from now: a negative number
 * issues one that has already expired (the chaos run's expired worker certificate).
 */
export async function issueCertificate(
  dir: string,
  name: string,
  usage: 'serverAuth' | 'clientAuth',
  days = DAYS,
): Promise<CertPair> {
  const extensions = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    `extendedKeyUsage=${usage}`,
    ...(usage === 'serverAuth' ? [SERVER_NAMES] : []),
  ];
  writeFileSync(join(dir, `${name}.ext`), `${extensions.join('\n')}\n`);
  await openssl(
    dir,
    'req',
    '-new',
    ...KEY_ARGS,
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
  );
  await openssl(
    dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', days, '-extfile', `${name}.ext`, '-out', `${name}.pem`,
  ); // prettier-ignore
  // The request and its extensions served once: only the certificate and its key stay.
  rmSync(join(dir, `${name}.csr`));
  rmSync(join(dir, `${name}.ext`));
  return { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
}
