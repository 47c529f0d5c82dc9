// The metadata server's self-healing endpoints: POST /v1/admin/heartbeat (data servers, once a
// second) and GET /v1/admin/status (operators, `quorumfs status`, tests).
import { readJson } from '../common/http-server.js';
import type { Heartbeat } from '../common/protocol.js';
import { HEARTBEAT_SCHEMA, parseArgs } from '../meta/arg-schemas.js';
import type { AdminEndpoints } from '../meta/server.js';
import type { HealingEngine } from './engine.js';

/** A heartbeat is a few hundred bytes. */
const HEARTBEAT_BODY_LIMIT_BYTES = 16 * 1024;

export function healingEndpoints(engine: HealingEngine): AdminEndpoints {
  return {
    '/v1/admin/heartbeat': {
      method: 'POST',
      run: async (req) => {
        const hb = parseArgs('heartbeat', HEARTBEAT_SCHEMA, await readJson(req, HEARTBEAT_BODY_LIMIT_BYTES)) as Heartbeat;
        await engine.heartbeat(hb);
        return {};
      },
    },
    '/v1/admin/status': { method: 'GET', run: async () => engine.status() },
  };
}
