import { createServer, request as forward, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP relay in front of the test Vault that a test can take down (connections reset, as when Vault's
 * host goes away) and bring back, so that a worker pointed at it sees Vault vanish mid-rotation.
 */
export async function vaultOutage(vaultEndpoint: string) {
  let down = false;
  let goDownOn: ((request: IncomingMessage) => boolean) | undefined;
  const server = createServer((request, response) => {
    if (!down && goDownOn?.(request) === true) down = true;
    if (down) {
      request.socket.destroy();
      return;
    }
    const upstream = forward(
      new URL(request.url ?? '/', vaultEndpoint),
      { method: request.method, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    /** Vault vanishes at the first request that matches, which never reaches it. */
    goDownOn(predicate: (request: IncomingMessage) => boolean) {
      goDownOn = predicate;
    },
    up() {
      down = false;
      goDownOn = undefined;
    },
    get isDown() {
      return down;
    },
    close: () =>
      new Promise<void>((closed) => {
        server.closeAllConnections();
        server.close(() => closed());
      }),
  };
}
