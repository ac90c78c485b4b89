import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasTool } from './tools.js';

/** Parses Prometheus text into `name{labels}` → value. */
export function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    map.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return map;
}

/** True when Debian's prometheus package (promtool) is installed; CI installs it (and requires it). */
export function hasPromtool(): boolean {
  return hasTool('promtool');
}

function tempFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'conveyor-prom-')), name);
  writeFileSync(file, text);
  return file;
}

/**
 * Runs `promtool check metrics` and returns every problem it reports (parse failures and
 * lint findings alike, prom-client's runtime metrics included); null when promtool is
 * absent here.
 */
export function promtoolCheckMetrics(text: string): string[] | null {
  if (!hasPromtool()) return null;
  const file = tempFile('metrics.txt', text);
  const run = spawnSync('sh', ['-c', `promtool check metrics < ${file}`], { encoding: 'utf8' });
  if (run.status !== 0 && run.status !== 3) return [`promtool could not parse the exposition: ${run.stderr}`];
  return `${run.stdout}${run.stderr}`.split('\n').filter((line) => line.trim() !== '');
}

/**
 * Parses PromQL expressions with `promtool check rules` (each becomes a recording rule);
 * returns promtool's complaint, '' when every expression parses, null without promtool.
 */
export function promtoolCheckExpressions(expressions: readonly string[]): string | null {
  if (!hasPromtool()) return null;
  const rules = expressions.map(
    (expr, i) => `      - record: conveyor:check_${i}\n        expr: ${JSON.stringify(expr)}`,
  );
  const file = tempFile('rules.yml', `groups:\n  - name: check\n    rules:\n${rules.join('\n')}\n`);
  const run = spawnSync('promtool', ['check', 'rules', '--lint=none', file], { encoding: 'utf8' });
  return run.status === 0 ? '' : `${run.stdout}${run.stderr}`;
}
