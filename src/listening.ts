import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A server listening: the port it got (for port 0), and a close that also ends kept-alive connections. */
export interface Listening {
  port: number;
  close(): Promise<void>;
}

/** Starts `server` on `port` and `host` (all addresses unless named); rejects when it cannot listen. */
export async function listen(server: Server, port: number, host = '0.0.0.0'): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
