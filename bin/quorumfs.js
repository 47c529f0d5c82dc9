#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build`.
import { main } from '../dist/src/cli/main.js';
main(process.argv).catch((err) => {
  process.stderr.write(`quorumfs: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
