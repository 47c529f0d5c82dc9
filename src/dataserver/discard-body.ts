import type { IncomingMessage } from 'node:http';

/**
 * Throws away the body of a request that is answered without reading it (401, 4xx before the body).
 * Node would drain such a body without any bound; here at most capBytes are read and the connection
 * is dropped past that, so nobody can make the server read unlimited bytes. Bodies under the cap are
 * drained rather than cut off: closing a socket with unread input resets it, and the client would
 * then see EPIPE/ECONNRESET instead of its answer.
 */
export function discardBody(req: IncomingMessage, capBytes: number): void {
  if (req.complete || req.readableEnded) return;
  let seenBytes = 0;
  req.on('data', (chunk: Buffer) => {
    seenBytes += chunk.length;
    if (seenBytes > capBytes) req.socket.destroy();
  });
  req.on('error', () => undefined); // a dropped connection is the expected end here
  req.resume();
}
