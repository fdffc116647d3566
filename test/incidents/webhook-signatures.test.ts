import { createHmac } from 'node:crypto';
import { signatureMatches, signatureOf } from '../../src/incidents/signatures';

/* The webhooks' signature check: GitHub's documented example, and every header that must not pass. */
describe('webhook signatures', () => {
  it("agrees with GitHub's example of X-Hub-Signature-256", () => {
    // docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody", body "Hello, World!".
    const expected = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(signatureOf("It's a Secret to Everybody", 'Hello, World!')).toBe(expected);
    expect(signatureMatches(expected, "It's a Secret to Everybody", Buffer.from('Hello, World!'))).toBe(true);
  });

  it('refuses a missing header, another secret, another body, another algorithm and another length', () => {
    const body = Buffer.from('{"action":"created"}');
    const good = signatureOf('secret', body);
    const sha1 = `sha1=${createHmac('sha1', 'secret').update(body).digest('hex')}`;
    const headers = [
      undefined,
      signatureOf('other', body),
      signatureOf('secret', '{}'),
      sha1,
      `${good}00`,
      good.slice(0, -1),
      good.toUpperCase(),
    ];
    expect(headers.map((header) => signatureMatches(header, 'secret', body))).toEqual(
      headers.map(() => false),
    );
  });
});
