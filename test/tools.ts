import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * The command-line tools some tests check with, beyond Node: CI installs them (.ci/run); a
 * local run without them skips those checks, and the final summary line says so
 * (test/tool-reporter.ts). With CONVEYOR_REQUIRE_TOOLS=1 (CI) a missing tool fails the run.
 */
export const tools = {
  yamllint: {
    present: () => spawnSync('yamllint', ['--version']).error === undefined,
    checks: 'the yamllint of compose, the chart and the example deploy files',
    debian: 'yamllint',
  },
  promtool: {
    present: () => spawnSync('promtool', ['--version']).error === undefined,
    checks: 'promtool on both /metrics and the Grafana queries',
    debian: 'prometheus',
  },
  psql: {
    present: () => spawnSync('psql', ['--version']).error === undefined,
    checks: "bench/drain-cost.sh and bench/ingest-cost.sh (psql, on the machine's Postgres)",
    debian: 'postgresql-client',
  },
  'redis-cli': {
    present: () => spawnSync('redis-cli', ['--version']).error === undefined,
    checks: "bench/drain-cost.sh and bench/ingest-cost.sh (redis-cli, on the machine's Redis)",
    debian: 'redis-tools',
  },
  chromium: {
    present: () => existsSync('/usr/bin/chromium'),
    checks: 'the browser tests of the dashboard and /docs',
    debian: 'chromium',
  },
} as const;

export type Tool = keyof typeof tools;

const seen = new Map<Tool, boolean>();

/** Whether `tool` is installed here; throws instead of answering false under CONVEYOR_REQUIRE_TOOLS=1. */
export function hasTool(tool: Tool): boolean {
  let present = seen.get(tool);
  if (present === undefined) {
    present = tools[tool].present();
    seen.set(tool, present);
  }
  if (!present && process.env.CONVEYOR_REQUIRE_TOOLS === '1') {
    throw new Error(
      `${tool} is not installed, and CONVEYOR_REQUIRE_TOOLS=1: apt-get install ${tools[tool].debian}`,
    );
  }
  return present;
}

/** The tools not installed here. */
export function missingTools(): Tool[] {
  return (Object.keys(tools) as Tool[]).filter((tool) => !tools[tool].present());
}
