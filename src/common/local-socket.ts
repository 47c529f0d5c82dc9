// A second way into a server for clients on the same machine: a Unix socket beside its data. The
// local cluster's processes all share one host, and on these VMs a loopback TCP round trip costs
// about twice a Unix-socket one (0.22 vs 0.10 ms, scratch measurements): every small-file
// operation makes several. The same HTTP server answers both, with the same authentication, so
// the socket is a transport and nothing else. Across machines clients use TCP as before.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import type { Server as HttpServer } from 'node:http';

/** sun_path holds 108 bytes on Linux; longer paths are refused by bind(2), so such a server stays TCP-only. */
const MAX_SOCKET_PATH_BYTES = 100;

export function socketPathFits(path: string): boolean {
  return Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES;
}

/**
 * Also serves `http` on a Unix socket at path (a stale one left by a crash is replaced, and a clean
 * exit removes it). Only the owner may connect; requests still need the cluster secret.
 */
export function listenLocalSocket(http: HttpServer, path: string): Promise<NetServer> {
  if (!socketPathFits(path)) return Promise.reject(new Error(`socket path longer than ${MAX_SOCKET_PATH_BYTES} bytes: ${path}`));
  rmSync(path, { force: true });
  const unix = createServer((socket) => http.emit('connection', socket));
  return new Promise((resolve, reject) => {
    unix.once('error', (err) => reject(new Error(`cannot listen on ${path}: ${err.message}`)));
    unix.listen(path, () => {
      chmodSync(path, 0o600);
      process.once('exit', () => rmSync(path, { force: true }));
      resolve(unix);
    });
  });
}
