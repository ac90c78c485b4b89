import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FlowView } from '@conveyor/client';
import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppProcess, startApp, stopApp, TEST_API_KEY, waitForOk } from './processes.js';

const services = useTestServices();
const root = fileURLToPath(new URL('..', import.meta.url));
const started: AppProcess[] = [];
let url: string;
/** Where the flow tests write their JSON files. */
const files = mkdtempSync(join(tmpdir(), 'conveyor-cli-flows-'));

/** Runs the real `conveyor` bin as a child process. */
function conveyor(
  args: string[],
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['packages/cli/bin/conveyor.js', ...args], {
      cwd: root,
      env: { ...process.env, CONVEYOR_URL: url, CONVEYOR_API_KEY: TEST_API_KEY },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

beforeAll(async () => {
  const env = {
    REDIS_URL: services.redisUrl,
    DATABASE_URL: services.databaseUrl,
    QUEUE_PREFIX: services.prefix,
  };
  const port = await freePort();
  started.push(startApp('api', { ...env, PORT: String(port), HOST: '127.0.0.1' }));
  url = `http://127.0.0.1:${port}`;
  await waitForOk(`${url}/health/ready`);
  const workerPort = await freePort();
  started.push(startApp('worker', { ...env, WORKER_PORT: String(workerPort) }));
  await waitForOk(`http://127.0.0.1:${workerPort}/health/ready`);
});
afterAll(async () => {
  await Promise.all(started.map((p) => stopApp(p)));
  rmSync(files, { recursive: true, force: true });
});

/** Writes `content` (JSON unless a string) to a file of the test's directory; its path. */
function flowFile(name: string, content: unknown): string {
  const path = join(files, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** The FlowView lines a `flow` command printed. */
const flowsOf = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as FlowView);

describe('conveyor CLI', () => {
  it('submits a job and watches it to completion (exit 0)', async () => {
    const run = await conveyor(['submit', 'sleep', '{"ms":300}', '--wait']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/ sleep {2}queued/);
    expect(run.stdout).toContain('completed');
    expect(run.stdout).toContain('result {"sleptMs"');
  });

  it('reads data from stdin and prints JSON for scripts', async () => {
    const run = await conveyor(['submit', 'echo', '--json'], '{"from":"stdin"}');
    expect(run.code).toBe(0);
    const { id } = JSON.parse(run.stdout) as { id: string };
    const watched = await conveyor(['watch', id, '--json']);
    expect(watched.code).toBe(0);
    const lines = watched.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string });
    expect(lines[0]?.kind).toBe('snapshot');
    const got = await conveyor(['get', id, '--json']);
    expect(JSON.parse(got.stdout)).toMatchObject({ id, status: 'completed', result: { from: 'stdin' } });
  });

  it('exits 1 when the job fails, and when the API refuses', async () => {
    const failing = await conveyor(['submit', 'test.fail', '{}', '--attempts', '1', '--wait']);
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain('failed');
    const missing = await conveyor(['get', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('404 JOB_NOT_FOUND');
    const invalid = await conveyor(['submit', 'sleep', '{"ms":"soon"}']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('VALIDATION_FAILED');
  });

  it('lists jobs and queues', async () => {
    const list = await conveyor(['list', '--status', 'completed', '--limit', '2']);
    expect(list.code).toBe(0);
    expect(list.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(1);
    const queues = await conveyor(['queues']);
    expect(queues.code).toBe(0);
    expect(queues.stdout).toMatch(/^default {2}waiting \d+/m);
  });

  it('lists jobs by tag and metadata (--tag, --metadata key=value, repeatable)', async () => {
    const submit = async (body: unknown) => {
      const response = await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return ((await response.json()) as { id: string }).id;
    };
    const mine = await submit({
      type: 'noop',
      metadata: { customer: 42, plan: 'pro' },
      tags: ['cli-search'],
    });
    const other = await submit({ type: 'noop', metadata: { customer: 7 }, tags: ['cli-search'] });
    const byMetadata = await conveyor([
      'list',
      '--metadata',
      'customer=42',
      '--metadata',
      'plan=pro',
      '--json',
    ]);
    expect(byMetadata.code, byMetadata.stderr).toBe(0);
    expect((JSON.parse(byMetadata.stdout) as { items: { id: string }[] }).items.map((j) => j.id)).toEqual([
      mine,
    ]);
    const byTag = await conveyor(['list', '--tag', 'cli-search', '--json']);
    expect(new Set((JSON.parse(byTag.stdout) as { items: { id: string }[] }).items.map((j) => j.id))).toEqual(
      new Set([mine, other]),
    );
    const bad = await conveyor(['list', '--metadata', 'nokey']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--metadata takes key=value (got "nokey")');
  });

  it('retries by filter: --dry-run counts, then every match is retried (retry --status failed --tag …)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'test.fail', data: {}, attempts: 1, tags: ['cli-bulk'] }),
      });
      ids.push(((await response.json()) as { id: string }).id);
    }
    for (const id of ids) {
      await expect
        .poll(async () => JSON.parse((await conveyor(['get', id, '--json'])).stdout).status, {
          timeout: 10_000,
        })
        .toBe('failed');
    }
    const dry = await conveyor(['retry', '--status', 'failed', '--tag', 'cli-bulk', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.trim()).toBe('3 jobs match');
    const run = await conveyor(['retry', '--status', 'failed', '--tag', 'cli-bulk']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe('retried 3 jobs, skipped 0');
    const got = JSON.parse((await conveyor(['get', ids[0] ?? '', '--json'])).stdout) as { attempts: number };
    await expect
      .poll(
        async () =>
          (JSON.parse((await conveyor(['get', ids[0] ?? '', '--json'])).stdout) as { attempts: number })
            .attempts,
        {
          timeout: 10_000,
        },
      )
      .toBeGreaterThanOrEqual(Math.max(2, got.attempts));
  });

  it('cancels by filter: --dry-run counts, then every queued match is cancelled (cancel --tag …)', async () => {
    for (let i = 0; i < 2; i++) {
      await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'noop', delayMs: 600_000, tags: ['cli-cancel'] }),
      });
    }
    const dry = await conveyor(['cancel', '--tag', 'cli-cancel', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.trim()).toBe('2 jobs match');
    const run = await conveyor(['cancel', '--tag', 'cli-cancel']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe('cancelled 2 jobs');
    expect((await conveyor(['cancel', '--tag', 'cli-cancel', '--dry-run'])).stdout.trim()).toBe(
      '0 jobs match',
    );
  });

  it('gives usage and exit 2 for wrong arguments', async () => {
    for (const args of [
      [],
      ['frobnicate'],
      ['get'],
      ['submit'],
      ['submit', 'echo', '{not json'],
      ['list', '--limit', 'ten'],
      ['retry'],
      ['cancel'],
      ['get', 'a', '--bogus'],
    ]) {
      const run = await conveyor(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout + run.stderr, args.join(' ')).toContain('usage: conveyor');
    }
  });
});

describe('conveyor flow', () => {
  it('submit <file> --wait prints the flow, then the ended flow with every node completed (exit 0); get shows it', async () => {
    const file = flowFile('report.json', {
      type: 'echo',
      data: { step: 'publish' },
      children: [
        { type: 'sleep', data: { ms: 100 } },
        { type: 'echo', data: 'middle', children: [{ type: 'noop' }] },
      ],
    });
    const run = await conveyor(['flow', 'submit', file, '--wait']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [submitted, ended, ...more] = flowsOf(run.stdout);
    expect(more).toEqual([]);
    expect(submitted?.status).toBe('queued');
    expect(submitted?.nodes.map((n) => n.path)).toEqual([
      '',
      'children.0',
      'children.1',
      'children.1.children.0',
    ]);
    expect(ended).toMatchObject({ id: submitted?.id, status: 'completed' });
    expect(ended?.nodes.map((n) => [n.path, n.type, n.status])).toEqual([
      ['', 'echo', 'completed'],
      ['children.0', 'sleep', 'completed'],
      ['children.1', 'echo', 'completed'],
      ['children.1.children.0', 'noop', 'completed'],
    ]);
    const got = await conveyor(['flow', 'get', submitted?.id ?? '']);
    expect(got.code).toBe(0);
    expect(flowsOf(got.stdout)).toEqual([ended]);
    // Each node is a job: the root's result is its own input (echo).
    const root = await conveyor(['get', submitted?.id ?? '', '--json']);
    expect(JSON.parse(root.stdout)).toMatchObject({ status: 'completed', result: { step: 'publish' } });
  });

  it('submit - reads the tree from stdin; --idempotency-key names the flow (the same id again)', async () => {
    const tree = JSON.stringify({ type: 'noop', children: [{ type: 'echo', data: 1 }] });
    const first = await conveyor(['flow', 'submit', '-', '--idempotency-key', 'cli-flow-key'], tree);
    const again = await conveyor(['flow', 'submit', '-', '--idempotency-key', 'cli-flow-key'], tree);
    expect(first.stderr).toBe('');
    expect([first.code, again.code]).toEqual([0, 0]);
    const [a] = flowsOf(first.stdout);
    const [b] = flowsOf(again.stdout);
    expect(b?.id).toBe(a?.id);
    expect(b?.nodes.map((n) => n.id)).toEqual(a?.nodes.map((n) => n.id));
  });

  it('exits 1 when the root did not complete, and when the API refuses the tree or knows no such flow', async () => {
    const failing = flowFile('failing.json', {
      type: 'noop',
      children: [{ type: 'test.fail', data: { unrecoverable: true }, attempts: 1 }],
    });
    const run = await conveyor(['flow', 'submit', failing, '--wait']);
    expect(run.code).toBe(1);
    const ended = flowsOf(run.stdout).at(-1);
    expect(ended?.status).toBe('failed');
    expect(ended?.nodes.map((n) => n.status)).toEqual(['failed', 'failed']);
    const invalid = flowFile('invalid-node.json', {
      type: 'noop',
      children: [{ type: 'sleep', data: { ms: 'soon' } }],
    });
    const refused = await conveyor(['flow', 'submit', invalid]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('400 VALIDATION_FAILED');
    expect(refused.stderr).toContain('children.0.data.ms');
    const missing = await conveyor(['flow', 'get', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('404 FLOW_NOT_FOUND');
  });

  it('cancel <id> prints the cancelled flow (exit 0); cancelling it again is refused (exit 1)', async () => {
    const file = flowFile('long.json', { type: 'noop', children: [{ type: 'sleep', data: { ms: 30_000 } }] });
    const submitted = await conveyor(['flow', 'submit', file]);
    expect(submitted.code).toBe(0);
    const [flow] = flowsOf(submitted.stdout);
    const cancelled = await conveyor(['flow', 'cancel', flow?.id ?? '']);
    expect(cancelled.stderr).toBe('');
    expect(cancelled.code).toBe(0);
    expect(flowsOf(cancelled.stdout).map((f) => [f.id, f.nodes.map((n) => n.status)])).toEqual([
      [flow?.id, ['cancelled', 'cancelled']],
    ]);
    const again = await conveyor(['flow', 'cancel', flow?.id ?? '']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('409 CONFLICT');
  });

  it('retry <id> runs a failed flow again (exit 0); it then completes', async () => {
    const file = flowFile('flaky.json', {
      type: 'noop',
      children: [{ type: 'test.flaky', data: { failures: 1 }, attempts: 1 }],
    });
    const failed = await conveyor(['flow', 'submit', file, '--wait']);
    expect(failed.code).toBe(1);
    const id = flowsOf(failed.stdout).at(-1)?.id ?? '';
    const retried = await conveyor(['flow', 'retry', id]);
    expect(retried.stderr).toBe('');
    expect(retried.code).toBe(0);
    expect(flowsOf(retried.stdout)[0]?.nodes.every((n) => n.status !== 'failed')).toBe(true);
    await expect
      .poll(async () => flowsOf((await conveyor(['flow', 'get', id])).stdout)[0]?.status, { timeout: 10_000 })
      .toBe('completed');
  });

  it('names what was wrong with bad input, with usage and exit 2, and sends nothing', async () => {
    const absent = join(files, 'absent.json');
    const broken = flowFile('broken.json', '{"type":"noop","children":[');
    const empty = flowFile('empty.json', '');
    for (const [args, message, stdin] of [
      [['flow', 'submit', absent], `cannot read flow file ${absent}: no such file`],
      [['flow', 'submit', files], `cannot read flow file ${files}: EISDIR`],
      [['flow', 'submit', broken], `flow file ${broken} is not valid JSON (`],
      [['flow', 'submit', empty], `flow file ${empty} is empty`],
      [['flow', 'submit', '-'], 'the flow on stdin is not valid JSON (', '{not json'],
      [['flow', 'submit'], 'flow submit takes exactly one JSON file (or - for stdin)'],
      [['flow', 'get'], 'flow get takes exactly one flow id'],
      [['flow', 'cancel', 'a', 'b'], 'flow cancel takes exactly one flow id'],
      [
        ['flow'],
        'flow needs a subcommand: flow takes submit <file.json>, get <id>, cancel <id> or retry <id>',
      ],
      [['flow', 'frobnicate'], 'unknown flow subcommand "frobnicate"'],
    ] as const) {
      const run = await conveyor([...args], stdin);
      const what = args.join(' ');
      expect(run.code, what).toBe(2);
      expect(run.stdout, what).toBe('');
      expect(run.stderr, what).toContain(`conveyor: ${message}`);
      expect(run.stderr, what).toContain('usage: conveyor');
    }
  });

  it('lists the flow commands in the usage', async () => {
    const run = await conveyor(['--help']);
    expect(run.code).toBe(0);
    for (const command of ['flow submit <file.json>', 'flow get <id>', 'flow cancel <id>', 'flow retry <id>'])
      expect(run.stdout).toContain(command);
  });
});
