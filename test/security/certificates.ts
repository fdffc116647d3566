import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its key, as files (for the *_CERT variables) and as PEM (for node's tls options). */
export interface Issued {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface ThrowawayCa extends Issued {
  /** Issues a leaf certificate good for both server and client authentication. */
  issue(name: string, options?: { dnsNames?: string[]; ips?: string[] }): Issued;
}

/**
 * Throwaway certificate authorities made with the openssl CLI, in a temporary folder that `remove` deletes.
 * P-256 keys: quick to make, and accepted by node, Vault and the Temporal SDK's Rust core alike.
 */
export function certificateFolder() {
  const dir = mkdtempSync(join(tmpdir(), 'certs-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const keyArgs = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const issued = (name: string): Issued => {
    const certFile = join(dir, `${name}.pem`);
    const keyFile = join(dir, `${name}.key`);
    return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  };

  return {
    dir,
    ca(name: string): ThrowawayCa {
      openssl(
        'req', '-x509', ...keyArgs, '-days', '1', '-subj', `/CN=${name}`,
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
        '-keyout', `${name}.key`, '-out', `${name}.pem`,
      ); // prettier-ignore
      return {
        ...issued(name),
        issue(leaf, { dnsNames = [], ips = [] } = {}) {
          const names = [...dnsNames.map((dns) => `DNS:${dns}`), ...ips.map((ip) => `IP:${ip}`)];
          writeFileSync(
            join(dir, `${leaf}.ext`),
            [
              'basicConstraints=critical,CA:FALSE',
              'keyUsage=critical,digitalSignature',
              'extendedKeyUsage=serverAuth,clientAuth',
              ...(names.length > 0 ? [`subjectAltName=${names.join(',')}`] : []),
            ].join('\n'),
          );
          openssl(
            'req',
            '-new',
            ...keyArgs,
            '-subj',
            `/CN=${leaf}`,
            '-keyout',
            `${leaf}.key`,
            '-out',
            `${leaf}.csr`,
          );
          openssl(
            'x509', '-req', '-in', `${leaf}.csr`, '-CA', `${name}.pem`, '-CAkey', `${name}.key`,
            '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '1',
            '-extfile', `${leaf}.ext`, '-out', `${leaf}.pem`,
          ); // prettier-ignore
          return issued(leaf);
        },
      };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
