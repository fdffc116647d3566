import {
  createServer,
  request as forward,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Chaos } from '../sim/chaos';

export interface HttpRelayOptions {
  /** Random faults on every request: refused (503 or 429) before it is forwarded, or its answer lost after. */
  chaos?: Chaos;
  /** Sees the body of every answer the server gave, relayed or lost (the chaos run collects issued tokens). */
  onAnswer?: (body: Buffer) => void;
}

/**
 * An HTTP relay in front of a real server that a test can break: take the server down (connections reset
 * before the request reaches it, as when its host goes away) and bring it back, or let one request through
 * and lose its answer (the server acted; the caller never hears).
 */
export async function httpRelay(upstream: string, options: HttpRelayOptions = {}) {
  let down = false;
  let goDownOn: ((request: IncomingMessage) => boolean) | undefined;
  let loseAnswerOf: ((request: IncomingMessage) => boolean) | undefined;
  let answerNext:
    { matches: (request: IncomingMessage) => boolean; answer: Answerer; times: number } | undefined;
  let rewriteAnswerOf: { matches: (request: IncomingMessage) => boolean; rewrite: Rewrite } | undefined;
  /**
   * Every request that reached the relay, for counting calls (the benchmark); empty it at will. `target` is
   * the operation an AWS JSON API names in its `X-Amz-Target` header.
   */
  const requests: { method: string; path: string; target?: string }[] = [];
  const pass = (request: IncomingMessage, response: ServerResponse, lose: boolean, rewrite?: Rewrite) => {
    const relayed = forward(
      new URL(request.url ?? '/', upstream),
      { method: request.method, headers: request.headers },
      (answer) => {
        if (options.onAnswer !== undefined) {
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('end', () => options.onAnswer?.(Buffer.concat(chunks)));
        }
        if (lose) {
          answer.resume();
          answer.on('end', () => request.socket.destroy());
          return;
        }
        if (rewrite !== undefined) {
          void text(answer).then((body) => {
            const rewritten = rewrite(body);
            // The body's length changes; it is sent whole.
            const headers = { ...answer.headers };
            delete headers['content-length'];
            delete headers['transfer-encoding'];
            response
              .writeHead(answer.statusCode ?? 502, {
                ...headers,
                'content-length': Buffer.byteLength(rewritten),
              })
              .end(rewritten);
          });
          return;
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    relayed.on('error', () => response.destroy());
    request.pipe(relayed);
  };
  /** A refusal before anything is forwarded, answered as an authorization server under load would. */
  const refusal = (status: number): RelayAnswer => {
    const limited = status === 429;
    return {
      status,
      headers: {
        'content-type': 'application/json',
        ...(limited ? { 'retry-after': String(options.chaos?.retryAfterSeconds ?? 1) } : {}),
      },
      body: JSON.stringify({ error: limited ? 'slow_down' : 'temporarily_unavailable' }),
    };
  };
  const refuse = (request: IncomingMessage, response: ServerResponse, status: number) => {
    request.resume();
    const { headers, body } = refusal(status);
    response.writeHead(status, headers).end(body);
  };
  const server = createServer((request, response) => {
    const target = request.headers['x-amz-target'];
    requests.push({
      method: request.method ?? 'GET',
      path: new URL(request.url ?? '/', upstream).pathname,
      ...(typeof target === 'string' ? { target } : {}),
    });
    if (!down && goDownOn?.(request) === true) down = true;
    if (down) {
      request.socket.destroy();
      return;
    }
    if (answerNext?.matches(request) === true) {
      const { answer } = answerNext;
      answerNext.times -= 1;
      if (answerNext.times === 0) answerNext = undefined;
      void text(request).then((body) => {
        const { status, headers, body: answered } = answer({ headers: request.headers, body });
        response.writeHead(status, headers).end(answered);
      });
      return;
    }
    const lose = loseAnswerOf?.(request) === true;
    if (lose) loseAnswerOf = undefined;
    const rewrite = rewriteAnswerOf?.matches(request) === true ? rewriteAnswerOf.rewrite : undefined;
    if (rewrite !== undefined) rewriteAnswerOf = undefined;
    const { chaos } = options;
    if (chaos === undefined) {
      pass(request, response, lose, rewrite);
      return;
    }
    void chaos.beforeHandling().then((fault) => {
      if (fault === undefined) pass(request, response, lose || chaos.losesAnswer());
      else refuse(request, response, fault === 'rate-limited-429' ? 429 : 503);
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** The server vanishes at the first request that matches, which never reaches it. */
    goDownOn(predicate: (request: IncomingMessage) => boolean) {
      goDownOn = predicate;
    },
    /** The next request that matches reaches the server, whose answer is then lost. */
    loseAnswerOf(predicate: (request: IncomingMessage) => boolean) {
      loseAnswerOf = predicate;
    },
    /** The next request that matches never reaches the server: the relay answers `status`, as a failing proxy would. */
    refuseNext(matches: (request: IncomingMessage) => boolean, status: number) {
      answerNext = { matches, answer: () => refusal(status), times: 1 };
    },
    /** The next `times` requests that match never reach the server: the relay answers them, from what they asked. */
    answerNext(matches: (request: IncomingMessage) => boolean, answer: Answerer, times = 1) {
      answerNext = { matches, answer, times };
    },
    /** The next request that matches reaches the server, whose answer the caller gets rewritten (status kept). */
    rewriteAnswerOf(matches: (request: IncomingMessage) => boolean, rewrite: Rewrite) {
      rewriteAnswerOf = { matches, rewrite };
    },
    up() {
      down = false;
      goDownOn = undefined;
    },
    close: () =>
      new Promise<void>((closed) => {
        server.closeAllConnections();
        server.close(() => closed());
      }),
  };
}

export type HttpRelay = Awaited<ReturnType<typeof httpRelay>>;

export interface RelayAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}
/** An answer the relay makes up from the request it got (its headers and body). */
type Answerer = (request: { headers: IncomingHttpHeaders; body: string }) => RelayAnswer;
/** The body the caller gets instead of the server's. */
type Rewrite = (body: string) => string;

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
