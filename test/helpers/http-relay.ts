import { createServer, request as forward, type IncomingMessage, type ServerResponse } from 'node:http';
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
  let refuseNext: { matches: (request: IncomingMessage) => boolean; status: number } | undefined;
  /** Every request that reached the relay, for counting calls (the benchmark); empty it at will. */
  const requests: { method: string; path: string }[] = [];
  const pass = (request: IncomingMessage, response: ServerResponse, lose: boolean) => {
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
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    relayed.on('error', () => response.destroy());
    request.pipe(relayed);
  };
  /** A refusal before anything is forwarded, answered as an authorization server under load would. */
  const refuse = (request: IncomingMessage, response: ServerResponse, status: number) => {
    request.resume();
    const limited = status === 429;
    response
      .writeHead(status, {
        'content-type': 'application/json',
        ...(limited ? { 'retry-after': String(options.chaos?.retryAfterSeconds ?? 1) } : {}),
      })
      .end(JSON.stringify({ error: limited ? 'slow_down' : 'temporarily_unavailable' }));
  };
  const server = createServer((request, response) => {
    requests.push({ method: request.method ?? 'GET', path: new URL(request.url ?? '/', upstream).pathname });
    if (!down && goDownOn?.(request) === true) down = true;
    if (down) {
      request.socket.destroy();
      return;
    }
    if (refuseNext?.matches(request) === true) {
      refuse(request, response, refuseNext.status);
      refuseNext = undefined;
      return;
    }
    const lose = loseAnswerOf?.(request) === true;
    if (lose) loseAnswerOf = undefined;
    const { chaos } = options;
    if (chaos === undefined) {
      pass(request, response, lose);
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
      refuseNext = { matches, status };
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
