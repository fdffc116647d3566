import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import { z } from 'zod';
import { formatIssues, validate } from '../validation';
import { EncryptionCodec, PayloadDecryptionError } from './encryption-codec';
import type { CodecKeys } from './keys';

/** A history page of payloads fits many times over; anything larger is not the Web UI talking. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The bearer token, also accepted as the first path segment (`/<token>/decode`) for a browser UI. */
export const codecServerToken = z
  .string()
  .trim()
  .regex(
    /^[A-Za-z0-9._~-]{32,}$/,
    'expected at least 32 characters of letters, digits, ".", "_", "~" or "-" (it may be a URL path segment)',
  );

/** A token for a codec server whose only client is the UI it is configured into. */
export function randomCodecServerToken(): string {
  return randomBytes(32).toString('base64url');
}

const base64 = z.base64('expected base64');
/** Temporal's remote codec protocol: payloads as protobuf JSON, bytes in base64. */
const payloadsBody = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), base64).optional(), data: base64.optional() })),
});

export interface CodecServerOptions {
  keys: CodecKeys;
  token: string;
  /** The Web UI origins the browser may call from (`http://localhost:8233`); no other origin gets CORS. */
  uiOrigins: string[];
  host: string;
  /** 0: any free port. */
  port: number;
}

export interface CodecServer {
  /** `http://host:port`, without the token. */
  url: string;
  port: number;
  close(): Promise<void>;
}

// Hashing first makes the comparison constant-time whatever the lengths.
const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
const sameToken = (given: string, token: string) => timingSafeEqual(digest(given), digest(token));

/** Why a request is refused, with its status; the message never holds a payload. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The codec server the Temporal Web UI (and `temporal --codec-endpoint`) calls: POST `/encode` and `/decode`.
 * It decrypts for a caller that shows the token, as `Authorization: Bearer <token>` or as the path prefix
 * `/<token>/`; anyone else gets 401 and nothing decoded. The UI's `X-Namespace` is accepted and not used:
 * one key ring serves every namespace.
 */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const { keys, token, uiOrigins, host, port } = options;
  const codec = new EncryptionCodec(keys);

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const origin = request.headers.origin;
    if (origin !== undefined && uiOrigins.includes(origin)) {
      response.setHeader('Access-Control-Allow-Origin', origin);
      response.setHeader('Access-Control-Allow-Credentials', 'true');
      response.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      response.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    }
    response.setHeader('Vary', 'Origin');
    const segments = new URL(request.url ?? '/', 'http://codec').pathname.split('/').filter(Boolean);
    const operation = segments.at(-1);
    if ((operation !== 'encode' && operation !== 'decode') || segments.length > 2) {
      throw new Refusal(404, 'expected POST /encode or /decode');
    }
    // A browser sends its preflight without credentials: it is answered with the CORS headers alone.
    if (request.method === 'OPTIONS') return void response.writeHead(204).end();
    if (!authorised(request, segments.length === 2 ? segments[0] : undefined)) {
      throw new Refusal(
        401,
        'unauthorised: send Authorization: Bearer <token>, or call /<token>/' + operation,
      );
    }
    if (request.method !== 'POST') throw new Refusal(405, `expected POST /${operation}`);
    const body = validate(payloadsBody, parseJson(await readBody(request)));
    if (!body.success) throw new Refusal(400, formatIssues(body.error).join('; '));
    const payloads = body.data.payloads.map(fromJson);
    const result = operation === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ payloads: result.map(toJson) }));
  };

  const authorised = (request: IncomingMessage, pathToken: string | undefined) => {
    if (pathToken !== undefined) return sameToken(pathToken, token);
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
    return bearer !== undefined && sameToken(bearer, token);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const status =
        error instanceof Refusal ? error.status : error instanceof PayloadDecryptionError ? 422 : 500;
      const message =
        error instanceof Refusal || error instanceof PayloadDecryptionError
          ? error.message
          : 'the codec failed';
      // A body too large is not read further: the connection closes once the answer is sent.
      if (!response.headersSent) {
        response.writeHead(status, {
          'Content-Type': 'application/json',
          ...(status === 413 ? { Connection: 'close' } : {}),
        });
      }
      response.end(JSON.stringify({ error: message }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Refusal(400, 'the body is not JSON');
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const tooLarge = new Refusal(413, `the body exceeds ${MAX_BODY_BYTES} bytes`);
  if (Number(request.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw tooLarge;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function fromJson(payload: z.output<typeof payloadsBody>['payloads'][number]): Payload {
  return {
    metadata: Object.fromEntries(
      Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')]),
    ),
    data: Buffer.from(payload.data ?? '', 'base64'),
  };
}

function toJson(payload: Payload) {
  return {
    metadata: Object.fromEntries(
      Object.entries(payload.metadata ?? {}).map(([key, value]) => [
        key,
        Buffer.from(value).toString('base64'),
      ]),
    ),
    data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
  };
}
