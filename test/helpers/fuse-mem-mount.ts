// Mounts an in-memory FsClient (no cluster) in this process until SIGTERM/SIGINT:
//   node dist/test/helpers/fuse-mem-mount.js MOUNTPOINT
// Prints "ready" on stdout once mounted. For testing the FUSE layer on its own.
import { createLogger } from '../../src/common/log.js';
import { mountFs } from '../../src/fuse/mount.js';
import { MemClient, writeSizes } from './fuse-memclient.js';

const mountpoint = process.argv[2];
if (!mountpoint) {
  process.stderr.write('usage: fuse-mem-mount.js MOUNTPOINT\n');
  process.exit(2);
}
const logger = createLogger('fuse-mem-mount');
const m = await mountFs(new MemClient(), mountpoint, logger, {
  attrTimeoutS: Number(process.env.QFS_ATTR_TIMEOUT ?? 0),
  entryTimeoutS: Number(process.env.QFS_ATTR_TIMEOUT ?? 0),
  // Unset: the binding's own default (1 MiB in the kernel binding, 128 KiB in libfuse2).
  maxWriteBytes: process.env.QFS_MAX_WRITE ? Number(process.env.QFS_MAX_WRITE) : undefined,
  debug: process.env.QFS_FUSE_DEBUG === '1',
  bigWrites: process.env.QFS_BIG_WRITES !== '0',
});
process.stdout.write('ready\n');
// SIGUSR2 prints the sizes of the write requests received so far, and resets them.
process.on('SIGUSR2', () => {
  process.stdout.write(`write sizes: ${JSON.stringify([...writeSizes])}\n`);
  writeSizes.clear();
});
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await m.unmount({ lazy: true }).catch((err: unknown) => logger.error({ err: String(err) }, 'unmount failed'));
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
void m.gone.then(() => process.exit(0));
