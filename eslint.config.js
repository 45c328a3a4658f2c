import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts', 'src/web/app/**/*.tsx'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['src/cli/**/*.ts', 'src/agents/lite/**/*.ts', 'src/bench/**/*.ts', 'src/**/*.test.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // The dashboard's browser app (its own tsconfig: DOM, Preact JSX).
    files: ['src/web/app/**/*.{ts,tsx}'],
    languageOptions: { globals: globals.browser },
  },
  {
    // Vite's config and the app's unit tests run in Node: checked with src/web/app/tsconfig.node.json.
    files: ['src/web/app/vite.config.ts', 'src/web/app/**/*.test.ts'],
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: false, project: './src/web/app/tsconfig.node.json' },
    },
  },
  {
    files: ['scripts/**/*.mjs', '.ci/**'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
