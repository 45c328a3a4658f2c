import preact from '@preact/preset-vite';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The dashboard's browser app. `npm run build` writes it to dist/web/app (next to the tsc output of src/web),
 * where the supervisor serves index.html at `/` and the bundles under `/assets/`.
 *
 * Development: `TMUX_CLAUDE_URL=http://127.0.0.1:PORT TMUX_CLAUDE_TOKEN=ADMIN npx vite -c src/web/app/vite.config.ts`
 * proxies /api to that supervisor with the admin token as bearer (the browser never sees it).
 */
export default defineConfig(({ command }) => {
  const target = process.env.TMUX_CLAUDE_URL ?? 'http://127.0.0.1:7420';
  const token = process.env.TMUX_CLAUDE_TOKEN ?? '';
  return {
    root,
    base: command === 'build' ? './' : '/',
    plugins: [preact({ prefreshEnabled: command === 'serve', devToolsEnabled: false })],
    logLevel: command === 'build' ? 'warn' : 'info',
    build: {
      outDir: fileURLToPath(new URL('../../../dist/web/app', import.meta.url)),
      emptyOutDir: true,
      assetsDir: 'assets',
      target: 'es2022',
      sourcemap: false,
      reportCompressedSize: false,
      chunkSizeWarningLimit: 800,
    },
    server: {
      host: '127.0.0.1',
      proxy: {
        '/api': {
          target,
          changeOrigin: true,
          headers: token ? { Authorization: `Bearer ${token}` } : {},
        },
      },
    },
  };
});
