/** Gemini command hook → supervisor `/hooks/<Event>` (see ../codex/hook-relay-core.ts). Run with `node`. */
import { runHookRelay } from '../codex/hook-relay-core.js';
import { mapGeminiHook } from './hook-events.js';

await runHookRelay(mapGeminiHook);
