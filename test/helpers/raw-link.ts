// Opens a link by hand (src/common/link-frames.ts), for tests that send what no client of ours
// would: malformed frames, frames a byte at a time, several calls in one write.
import { connect } from 'node:net';

export interface RawLinkOptions {
  port: number;
  /** The whole opening request (its status line, headers and blank line). */
  head: string;
  frames?: Buffer;
  /** Send the frames this many bytes at a time, each after the previous write completed. */
  step?: number;
  /** Resolve as soon as this holds for what has come back (else at the server's close). */
  enough?: (got: Buffer) => boolean;
}

/** Resolves with everything the server sent: once it closed, or once `enough` holds; rejects after 5 s. */
export function rawLinkExchange(o: RawLinkOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(o.port, '127.0.0.1');
    s.setNoDelay(true);
    let got = Buffer.alloc(0);
    const giveUp = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete answer within 5 s; got ${JSON.stringify(got.toString('latin1').slice(0, 300))}`));
    }, 5_000);
    const done = (): void => {
      clearTimeout(giveUp);
      s.destroy();
      resolve(got);
    };
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (o.enough?.(got)) done();
    });
    s.on('close', done);
    s.on('error', reject);
    s.write(o.head);
    const frames = o.frames;
    if (!frames) return;
    if (!o.step) {
      s.write(frames);
      return;
    }
    const step = o.step;
    let at = 0;
    const next = (): void => {
      if (at >= frames.length) return;
      s.write(frames.subarray(at, at + step), () => setImmediate(next));
      at += step;
    };
    next();
  });
}

/** The opening request of a link at path with protocol, authenticated with secret. */
export function upgradeRequest(path: string, protocol: string, secret: string): string {
  return `GET ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${secret}\r\nconnection: upgrade\r\nupgrade: ${protocol}\r\n\r\n`;
}
