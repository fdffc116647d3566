import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { WORKER_PROCESS_ENVIRONMENT, workerVariablesSchema } from '../../src/config/environment';

const ROOT = join(__dirname, '../..');

interface ComposeService {
  build?: { context: string };
  image?: string;
  environment?: Record<string, string>;
  volumes?: (string | { target: string })[];
  ports?: (string | { host_ip?: string; published: string | number })[];
}

/** The file as Docker Compose resolves it; `docker-compose` (Debian's, v1) needs no engine for this. */
function composeConfig(): { services: Record<string, ComposeService> } {
  const printed = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  });
  return parse(printed) as { services: Record<string, ComposeService> };
}

describe('deployment files', () => {
  it('docker-compose.yml is valid and runs the worker built from the Dockerfile beside its servers', () => {
    const { services } = composeConfig();
    expect(Object.keys(services).sort()).toEqual(
      ['postgresql', 'temporal', 'temporal-setup', 'temporal-ui', 'vault', 'worker'].sort(),
    );
    expect(services.worker?.build?.context).toBe(ROOT);
    expect(services.temporal?.environment).toMatchObject({ POSTGRES_ADDRESS: 'postgresql:5432' });
  });

  it('wires the worker only with variables the worker reads', () => {
    const known = Object.keys(workerVariablesSchema.shape);
    const wired = Object.keys(composeConfig().services.worker?.environment ?? {});
    expect(wired.filter((name) => !known.includes(name))).toEqual([]);
    expect(wired).toEqual(expect.arrayContaining(['TEMPORAL_ADDRESS', 'VAULT_ADDR', 'ROTATOR_INVENTORY']));
  });

  it('the Dockerfile builds in stages and runs unprivileged, prebuilt, with production dependencies only', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev/m);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n.*\/healthz/m);
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/src\/worker\.js"\]$/m);
  });

  it('the image starts the worker with the process environment the topology and the bench start it with', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    for (const [name, value] of Object.entries(WORKER_PROCESS_ENVIRONMENT))
      expect(finalStage).toMatch(new RegExp(`^(?:ENV |\\s+)${name}=${value}(?: \\\\)?$`, 'm'));
  });

  it('the image runs on Node 24 LTS, which package.json engines allows beside Node 20.19+ for source installs', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const images = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((match) => match[1]);
    expect(images.every((image) => image?.startsWith('node:24-'))).toBe(true);
    const { engines } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    expect(engines.node.split('||').map((range) => range.trim())).toEqual([
      '^20.19.0',
      '^22.12.0',
      '>=24.0.0',
    ]);
  });

  it("publishes Vault on the host's loopback only, with no token in the file", () => {
    expect(JSON.stringify(composeConfig().services.vault)).not.toMatch(/TOKEN/);
    const ports = composeConfig().services.vault?.ports ?? [];
    expect(ports.length).toBeGreaterThan(0);
    for (const port of ports) {
      expect(typeof port === 'string' ? port.split(':')[0] : port.host_ip).toBe('127.0.0.1');
    }
  });
});
