import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';

export interface MtlsProxy {
  /** `127.0.0.1:port`, as TEMPORAL_ADDRESS takes it. */
  address: string;
  /** How many handshakes it refused: no client certificate, or one the CA did not sign. */
  refused(): number;
  close(): Promise<void>;
}

/**
 * A TLS-terminating TCP proxy that demands a client certificate signed by `ca` and pipes each authenticated
 * connection to a plaintext server, such as the Temporal dev server, which has no TLS of its own. gRPC
 * speaks HTTP/2 without negotiation on the plaintext side, so the proxy only has to offer h2 by ALPN.
 */
export async function startMtlsProxy(options: {
  target: string;
  cert: string;
  key: string;
  ca: string;
}): Promise<MtlsProxy> {
  const target = new URL(`tcp://${options.target}`);
  let refused = 0;
  const sockets = new Set<TLSSocket>();
  const server = createServer(
    {
      cert: options.cert,
      key: options.key,
      ca: options.ca,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (client) => {
      sockets.add(client);
      const upstream = connect(Number(target.port), target.hostname);
      client.pipe(upstream).pipe(client);
      const end = () => {
        sockets.delete(client);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    },
  );
  server.on('tlsClientError', () => (refused += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    refused: () => refused,
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((socket) => socket.destroy());
        server.close(() => resolve());
      }),
  };
}
