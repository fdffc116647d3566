import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DELIVERY_MEMORY_MS, DeliveryLog, MAX_DELIVERIES } from '../../src/incidents/deliveries';

/*
 * The alerts server's memory of delivery ids: durable across a reopen, one handler per id even when a
 * delivery arrives twice at once, a failed handler not remembered, and bounded in age and size.
 */
let dir: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'deliveries-'));
  file = join(dir, 'state', 'alert-deliveries.json');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const stored = () =>
  Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { deliveries: Record<string, number> }).deliveries);

describe('the delivery log', () => {
  it('runs a delivery once, and still knows it once reopened', async () => {
    const log = await DeliveryLog.open(file);
    expect(await log.once('github:a', () => Promise.resolve('started'))).toEqual({
      replayed: false,
      value: 'started',
    });
    expect(await log.once('github:a', () => Promise.resolve('again'))).toEqual({ replayed: true });
    const reopened = await DeliveryLog.open(file);
    expect(await reopened.once('github:a', () => Promise.resolve('again'))).toEqual({ replayed: true });
    expect(await reopened.once('github:b', () => Promise.resolve('other'))).toEqual({
      replayed: false,
      value: 'other',
    });
  });

  it('runs one of two deliveries of one id that arrive together', async () => {
    const log = await DeliveryLog.open(file);
    let release: () => void = () => undefined;
    const first = log.once(
      'webhook:x',
      () => new Promise<string>((resolve) => (release = () => resolve('first'))),
    );
    const second = await log.once('webhook:x', () => Promise.resolve('second'));
    release();
    expect([await first, second]).toEqual([{ replayed: false, value: 'first' }, { replayed: true }]);
  });

  it('forgets a delivery whose handler failed, so that it can be sent again', async () => {
    const log = await DeliveryLog.open(file);
    await expect(log.once('github:c', () => Promise.reject(new Error('Vault is sealed')))).rejects.toThrow(
      'Vault is sealed',
    );
    expect(await log.once('github:c', () => Promise.resolve('taken in'))).toEqual({
      replayed: false,
      value: 'taken in',
    });
  });

  it('forgets ids older than its memory, and keeps at most MAX_DELIVERIES', async () => {
    let now = 1_000_000_000_000;
    const log = await DeliveryLog.open(file, () => now);
    await log.once('github:old', () => Promise.resolve(1));
    now += DELIVERY_MEMORY_MS + 1;
    expect(await log.once('github:old', () => Promise.resolve(2))).toEqual({ replayed: false, value: 2 });

    const full = Object.fromEntries(Array.from({ length: MAX_DELIVERIES }, (_, i) => [`webhook:${i}`, now]));
    writeFileSync(file, JSON.stringify({ version: 1, deliveries: full }));
    const reopened = await DeliveryLog.open(file, () => now);
    await reopened.once('webhook:newest', () => Promise.resolve(3));
    const ids = stored();
    expect(ids).toHaveLength(MAX_DELIVERIES);
    expect(ids).not.toContain('webhook:0');
    expect(ids).toContain('webhook:newest');
  });

  it('refuses to open a file that is not a delivery log, naming it', async () => {
    writeFileSync(join(dir, 'broken.json'), '{"version":1,"deliveries":{"a":"yesterday"}}');
    await expect(DeliveryLog.open(join(dir, 'broken.json'))).rejects.toThrow(
      /the delivery log .*broken\.json.*deliveries\.a/s,
    );
    writeFileSync(join(dir, 'text.json'), 'not json');
    await expect(DeliveryLog.open(join(dir, 'text.json'))).rejects.toThrow(/text\.json is not JSON/);
  });
});
