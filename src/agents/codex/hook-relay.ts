/** Codex command hook → supervisor `/hooks/<Event>` (see hook-relay-core.ts). Run with `node`, not imported. */
import { mapCodexHook } from './hook-events.js';
import { runHookRelay } from './hook-relay-core.js';

await runHookRelay(mapCodexHook);
