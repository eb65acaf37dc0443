// Lint: typescript-eslint's recommended rules plus the boundaries that keep the architecture honest:
// the domain core does no I/O and imports no framework; connectors import only the SDK.
import tseslint from 'typescript-eslint';

const ioModules = ['fastify', 'fastify-*', '@fastify/*', 'mongodb', 'bullmq', 'ioredis', 'bottleneck', 'node:fs', 'node:fs/*', 'fs', 'node:http', 'node:https', 'node:net', 'node:child_process', 'node:sqlite', 'undici', 'jira.js', '@octokit/*', 'p-retry', 'node-cron', 'pino'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'dist/**', 'coverage/**', '.tmp/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ioModules, message: 'The domain core is pure: no I/O, driver, HTTP or framework imports.' },
          { group: ['**/store/*/**', '**/queue/**', '**/http/**', '**/pipeline/**', '**/connectors/**', '**/cli/**'], message: 'The domain core does not depend on adapters, the pipeline, HTTP or connectors.' },
        ],
      }],
    },
  },
  {
    files: ['connectors/**/*.ts'],
    ignores: ['connectors/index.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/src/*', '!**/src/sdk', '**/src/*/**', '!**/src/sdk/**'], message: 'Connectors import only the SDK (src/sdk).' },
        ],
      }],
    },
  },
);
