import { createServer, request as forward, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP relay in front of a real server that a test can break: take the server down (connections reset
 * before the request reaches it, as when its host goes away) and bring it back, or let one request through
 * and lose its answer (the server acted; the caller never hears).
 */
export async function httpRelay(upstream: string) {
  let down = false;
  let goDownOn: ((request: IncomingMessage) => boolean) | undefined;
  let loseAnswerOf: ((request: IncomingMessage) => boolean) | undefined;
  let refuse: { matches: (request: IncomingMessage) => boolean; status: number } | undefined;
  /** Every request that reached the relay, for counting calls (the benchmark); empty it at will. */
  const requests: { method: string; path: string }[] = [];
  const server = createServer((request, response) => {
    requests.push({ method: request.method ?? 'GET', path: new URL(request.url ?? '/', upstream).pathname });
    if (!down && goDownOn?.(request) === true) down = true;
    if (down) {
      request.socket.destroy();
      return;
    }
    if (refuse?.matches(request) === true) {
      response.writeHead(refuse.status, { 'content-type': 'text/plain' }).end('relay refused the request');
      refuse = undefined;
      return;
    }
    const lose = loseAnswerOf?.(request) === true;
    if (lose) loseAnswerOf = undefined;
    const relayed = forward(
      new URL(request.url ?? '/', upstream),
      { method: request.method, headers: request.headers },
      (answer) => {
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
      refuse = { matches, status };
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
