import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');

/** A process whose allocations and CPU time are nearly all in one named function. */
const program = `
function allocateMuch() {
  let kept = 0;
  for (let i = 0; i < 400_000; i++) kept += JSON.stringify({ i, text: 'x'.repeat(64) }).length;
  return kept;
}
const until = Date.now() + 400;
let total = 0;
while (Date.now() < until) total += allocateMuch();
if (total === 0) process.exit(1);
`;

async function profileTop(file: string): Promise<string> {
  const { stdout } = await exec('node', ['bench/profile-top.mjs', file, '5'], { cwd: root });
  return stdout;
}

describe('the profiling tools of docs/performance.md', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conveyor-profiles-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('bench/alloc-profile.mjs samples what a process allocated, collected objects included', async () => {
    await exec('node', ['--import', './bench/alloc-profile.mjs', '-e', program], {
      cwd: root,
      env: { ...process.env, ALLOC_PROFILE_DIR: dir },
    });
    const [file] = (await readdir(dir)).filter((name) => name.endsWith('.heapprofile'));
    expect(file).toBeDefined();
    const report = await profileTop(join(dir, file as string));
    // Nothing the function allocates outlives it: only collected objects make these bytes.
    const allocated = Number(/: (\d+) MiB allocated/.exec(report)?.[1]);
    expect(allocated).toBeGreaterThan(20);
    const top = report.split('allocating frames:')[1]?.split('\n')[1] ?? '';
    expect(top).toContain('allocateMuch');
  });

  it('bench/profile-top.mjs names the hottest frame of a CPU profile', async () => {
    const cpuDir = join(dir, 'cpu');
    await exec('node', ['--cpu-prof', `--cpu-prof-dir=${cpuDir}`, '-e', program], { cwd: root });
    const [file] = await readdir(cpuDir);
    const report = await profileTop(join(cpuDir, file as string));
    expect(report).toMatch(/s sampled/);
    expect(report.split('self-time frames:')[1]).toContain('allocateMuch');
  });
});
