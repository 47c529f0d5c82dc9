// One conformance suite for every MetaApi implementation (SQLite engine, the HTTP server, later
// PostgreSQL): what a local ext4 would answer, plus block accounting. Each test works in its own
// directory of one shared store, so the suite also runs against a server process started once.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe } from 'node:test';
import { OWNER, type MetaUnderTest, type SuiteEnv } from './meta-conformance-helpers.js';
import { registerLayoutTests } from './meta-conformance-layout.js';
import { registerNamespaceTests } from './meta-conformance-namespace.js';
import { registerRenameTests } from './meta-conformance-rename.js';

export type { MetaUnderTest } from './meta-conformance-helpers.js';

export function metaConformance(name: string, make: () => Promise<MetaUnderTest>): void {
  describe(`meta conformance: ${name}`, () => {
    let made: MetaUnderTest | undefined;
    let counter = 0;
    const env = {} as SuiteEnv;

    before(async () => {
      made = await make();
      env.api = made.api;
      env.inspect = made.inspect ?? made.store;
      env.config = (await made.api.getCluster({})).config;
      env.dir = async () => {
        const d = `/t${++counter}-${Date.now()}`;
        await env.api.mkdir({ path: d, mode: 0o755, owner: OWNER });
        return d;
      };
    });
    after(async () => {
      await made?.cleanup();
    });
    afterEach(async () => {
      if (!env.inspect) return;
      const report = await env.inspect.checkIntegrity();
      assert.deepEqual(report.problems, [], 'integrity check after the test');
      assert.equal(report.ok, true);
    });

    registerNamespaceTests(env);
    registerRenameTests(env);
    registerLayoutTests(env);
  });
}
