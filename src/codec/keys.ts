import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ValidationError } from '../validation';

/** AES-256 takes 32-byte keys. */
const KEY_BYTES = 32;

/**
 * The keys payloads are encrypted and decrypted with. Every key listed decrypts; the last one listed encrypts
 * new payloads, so a key is rotated by appending a new one and removing the old one only once no history
 * that still matters was written with it.
 */
export interface CodecKeys {
  /** Where the keys came from (`ROTATOR_CODEC_KEYS_FILE /etc/rotator/codec-keys`): errors name it. */
  source: string;
  /** The id of the key new payloads are encrypted with. */
  current: string;
  byId: ReadonlyMap<string, Buffer>;
}

/** What the environment says about the keys: a file to read, or the list itself. */
export interface CodecKeySettings {
  keysFile?: string;
  keys?: CodecKeys;
}

export const KEYS_VARIABLE = 'ROTATOR_CODEC_KEYS';
export const KEYS_FILE_VARIABLE = 'ROTATOR_CODEC_KEYS_FILE';

// A key id is written into every payload's metadata and into error messages: short, and plain text.
const keyId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    'expected a key id of letters, digits, ".", "_" or "-" (at most 64), then ":"',
  );

// Zod's messages never repeat the input, which here is key material.
const keyMaterial = z
  .base64({ error: 'expected the base64 of 32 random bytes', abort: true })
  .refine((text) => Buffer.from(text, 'base64').length === KEY_BYTES, {
    error: (issue) =>
      `expected the base64 of 32 random bytes, found ${Buffer.from(String(issue.input), 'base64').length} bytes`,
  });

const entry = z.object({ id: keyId, key: keyMaterial });

/** One `<key-id>:<base64>` entry and where it stands (`line 3`, `entry 2`), for the errors. */
interface Entry {
  position: string;
  text: string;
}

/**
 * The file holds one `<key-id>:<base64 of 32 bytes>` per line, `#` comments and blank lines ignored; the
 * variable holds the same entries separated by commas. Errors name an entry by position and, when it has a
 * readable one, its key id; never the key.
 */
export function parseCodecKeys(text: string, source: string, format: 'file' | 'list'): CodecKeys {
  const entries: Entry[] =
    format === 'file'
      ? text
          .split(/\r?\n/)
          .map((line, index) => ({ position: `line ${index + 1}`, text: line.trim() }))
          .filter((line) => line.text !== '' && !line.text.startsWith('#'))
      : text
          .split(',')
          .map((part, index) => ({ position: `entry ${index + 1}`, text: part.trim() }))
          .filter((part) => part.text !== '');
  const problems: string[] = [];
  const byId = new Map<string, Buffer>();
  const seenAt = new Map<string, string>();
  for (const { position, text: entryText } of entries) {
    const colon = entryText.indexOf(':');
    const parsed = entry.safeParse({
      id: colon < 0 ? '' : entryText.slice(0, colon),
      key: colon < 0 ? entryText : entryText.slice(colon + 1),
    });
    if (!parsed.success) {
      const id = keyId.safeParse(entryText.slice(0, Math.max(colon, 0)));
      const named = id.success ? `${position} (key '${id.data}')` : position;
      problems.push(...parsed.error.issues.map((issue) => `${named}: ${issue.message}`));
      continue;
    }
    const { id, key } = parsed.data;
    const earlier = seenAt.get(id);
    if (earlier !== undefined) {
      problems.push(`${position}: key '${id}' is listed twice (first on ${earlier})`);
      continue;
    }
    seenAt.set(id, position);
    byId.set(id, Buffer.from(key, 'base64'));
  }
  if (problems.length === 0 && byId.size === 0)
    problems.push('lists no key: expected <key-id>:<base64 of 32 bytes>');
  if (problems.length > 0) throw new ValidationError(source, problems);
  return { source, current: [...byId.keys()].at(-1) ?? '', byId };
}

/** The keys, read from the file when one is set; undefined when payload encryption is off. */
export async function readCodecKeys(settings: CodecKeySettings): Promise<CodecKeys | undefined> {
  if (settings.keysFile === undefined) return settings.keys;
  const source = `${KEYS_FILE_VARIABLE} ${settings.keysFile}`;
  let text: string;
  try {
    text = await readFile(settings.keysFile, 'utf8');
  } catch (error) {
    throw new ValidationError(source, [
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`,
    ]);
  }
  return parseCodecKeys(text, source, 'file');
}
