import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// Issue 16: a run without yamllint or promtool says so in its last line instead of passing quietly.

const root = fileURLToPath(new URL('..', import.meta.url));
// A PATH holding everything this machine has except yamllint and promtool.
const bin = mkdtempSync(join(tmpdir(), 'conveyor-no-tools-'));
for (const dir of new Set(['/usr/bin', '/usr/local/bin', '/bin', dirname(process.execPath)])) {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    continue;
  }
  for (const name of names) {
    if (name === 'yamllint' || name === 'promtool') continue;
    try {
      symlinkSync(join(dir, name), join(bin, name));
    } catch {
      // the first directory's copy wins
    }
  }
}
afterAll(() => rmSync(bin, { recursive: true, force: true }));

function vitestWithoutTools(env: Record<string, string> = {}) {
  return spawnSync(
    process.execPath,
    [join(root, 'node_modules/vitest/vitest.mjs'), 'run', 'test/deploy/deploy-files.test.ts'],
    { cwd: root, encoding: 'utf8', env: { ...process.env, PATH: bin, CONVEYOR_REQUIRE_TOOLS: '', ...env } },
  );
}

describe('a test run without the tools CI installs', () => {
  it('skips the yamllint test and ends with a line naming what did not run', () => {
    const run = vitestWithoutTools();
    const output = `${run.stdout}${run.stderr}`;
    expect(run.status, output).toBe(0);
    expect(output).toMatch(/Tests\s.*1 skipped/);
    const last = output.trim().split('\n').at(-1) ?? '';
    expect(last).toContain('NOT RUN here, tools missing');
    expect(last).toContain('(yamllint)');
    expect(last).toContain('apt-get install yamllint prometheus');
  }, 60_000);

  it('fails under CONVEYOR_REQUIRE_TOOLS=1, as CI runs', () => {
    const run = vitestWithoutTools({ CONVEYOR_REQUIRE_TOOLS: '1' });
    expect(run.status).not.toBe(0);
    expect(`${run.stdout}${run.stderr}`).toContain('yamllint is not installed, and CONVEYOR_REQUIRE_TOOLS=1');
  }, 60_000);
});
