import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The web component: the dashboard's browser app lives in `app/` (Preact, built by Vite into `dist/web/app`);
 * the supervisor serves those files behind the admin cookie (see the supervisor's dashboard routes).
 */

/** Where the built dashboard is (`dist/web/app` of the package), or null when it was not built. */
export function dashboardAssetsDir(): string | null {
  // The same folder whether this module runs from dist/web (installed) or src/web (tests under tsx).
  const dir = fileURLToPath(new URL('../../dist/web/app/', import.meta.url));
  return existsSync(`${dir}index.html`) ? dir : null;
}
