import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const path = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run the TypeScript sources of the workspace packages, not their dist.
    alias: [
      { find: /^@conveyor\/core\/(.*)$/, replacement: `${path('./packages/core/src/')}$1/index.ts` },
      { find: /^@conveyor\/dev\/testing$/, replacement: path('./packages/dev/src/testing.ts') },
      { find: /^@conveyor\/dev\/testing-jobs$/, replacement: path('./packages/dev/src/testing-jobs.ts') },
      { find: /^@conveyor\/worker$/, replacement: path('./apps/worker/src/index.ts') },
      { find: /^@conveyor\/dev$/, replacement: path('./packages/dev/src/index.ts') },
      { find: /^@conveyor\/client$/, replacement: path('./packages/client/src/index.ts') },
      { find: /^@conveyor\/sdk$/, replacement: path('./packages/sdk/src/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    globalSetup: ['./packages/dev/src/vitest-global-setup.ts'],
    // The last line of a run names the checks that did not run for want of a tool.
    reporters: ['default', './test/tool-reporter.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
