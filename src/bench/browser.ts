import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (installed by `scripts/ensure-chromium.mjs`); CHROMIUM_PATH points elsewhere. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless Chromium for the dashboard's browser tests and benchmarks. The flags keep it off the network
 * (this machine has none but the registries, and Chromium otherwise phones home at every start).
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `no Chromium at ${CHROMIUM_PATH}: run \`node scripts/ensure-chromium.mjs\` (apt-get install chromium)`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/**
 * The little of the DOM that functions run in the page use (node code is compiled without DOM types):
 * `const { document } = globalThis as unknown as PageGlobals;` inside `page.waitForFunction(() => …)`.
 */
export interface PageGlobals {
  document: {
    querySelectorAll(
      selector: string,
    ): ArrayLike<{ textContent: string | null; getAttribute(name: string): string | null }>;
  };
}
