import { Readable } from 'node:stream';
import { scannedFile } from '../infra/secret-scan';
import { writeFileSync } from 'node:fs';
import { intakeWorld, type IntakeWorld } from './intake-world';
import { leakedToken } from '../helpers/rotation';

/*
 * `rotator incident --stdin` on real Vault and Temporal: the token piped in is fingerprinted, matched to the
 * credential and version that hold it, and handed to the break-glass start as its fingerprint only; an
 * unknown token starts nothing; a terminal, an empty stdin and a token in the arguments are refused.
 */
let world: IntakeWorld;
const printed: string[] = [];

beforeAll(async () => {
  world = await intakeWorld();
});

afterAll(async () => {
  writeFileSync(scannedFile('incidents', 'intake-stdin-output.txt'), printed.join('\n'));
  await world?.close();
});

beforeEach(() => {
  world.started.length = 0;
});

async function incident(stdin: string | (Readable & { isTTY?: boolean }), ...argv: string[]) {
  const input = typeof stdin === 'string' ? Readable.from([Buffer.from(stdin)]) : stdin;
  const result = await world.run(['incident', ...argv], { stdin: input }).done;
  printed.push(result.stdout, result.stderr);
  return result;
}

describe('rotator incident --stdin', () => {
  it('starts the break-glass rotation of the credential whose current token was piped in', async () => {
    const { current } = world.credentials;
    const result = await incident(
      `${current.old.value}\n`,
      '--stdin',
      '--url',
      'https://paste.example/x',
      '--reported-by',
      'bob',
    );
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain(`the current version of ${current.id} (field token) holds it`);
    expect(result.stdout).toContain(`break-glass rotation break-glass/${current.id} started`);
    expect(world.started).toEqual([
      {
        credentialId: current.id,
        leaked: leakedToken(current.old),
        alert: {
          source: 'stdin',
          id: expect.stringMatching(/^stdin:alice:/) as string,
          receivedAt: expect.any(String) as string,
          url: 'https://paste.example/x',
          reportedBy: 'bob',
        },
        requestedBy: 'alice',
      },
    ]);
  });

  it('matches a token the credential held before its last rotation as its previous version', async () => {
    const { rotated } = world.credentials;
    const result = await incident(rotated.old.value, '--stdin', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      result: 'started',
      credentialId: rotated.id,
      version: 'previous',
      tokenId: String(rotated.old.id),
    });
    expect(world.started.map(({ leaked }) => leaked.version)).toEqual(['previous']);
  });

  it('compares the stored fingerprint of a version that has one, and looks at the hinted credential first', async () => {
    const { rotated } = world.credentials;
    const result = await incident(world.fresh.value, '--stdin', '--credential', rotated.id, '--json');
    expect(JSON.parse(result.stdout)).toMatchObject({ credentialId: rotated.id, version: 'current' });
    expect(world.started).toHaveLength(1);
  });

  it('says "not managed here" for a token no credential holds, and starts nothing', async () => {
    const result = await incident(world.unmanagedToken(), '--stdin');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('not managed here');
    expect(world.started).toEqual([]);
  });

  it('refuses a terminal, an empty stdin, more than one token, a missing --stdin and an unknown --credential', async () => {
    const terminal = Object.assign(Readable.from([]), { isTTY: true });
    const refusals = [
      await incident(terminal, '--stdin'),
      await incident('\n', '--stdin'),
      await incident(`${world.credentials.other.old.value} second`, '--stdin'),
      await incident(world.credentials.other.old.value),
      await incident(world.credentials.other.old.value, '--stdin', '--credential', 'nobody'),
    ];
    expect(refusals.map(({ code }) => code)).toEqual([2, 2, 2, 2, 2]);
    expect(refusals.map(({ stderr }) => stderr)).toEqual([
      expect.stringContaining('--stdin: pipe the token in'),
      expect.stringContaining('--stdin: no token on stdin'),
      expect.stringContaining('--stdin: one token only'),
      expect.stringContaining('--stdin: required'),
      expect.stringContaining('--credential: no credential "nobody" in the inventory'),
    ]);
    expect(world.started).toEqual([]);
  });

  it('prints no token and no fingerprint', () => {
    const text = printed.join('\n');
    for (const value of world.values()) expect(text.includes(value)).toBe(false);
  });
});
