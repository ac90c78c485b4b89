import { execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPipeline,
  type Pipeline,
  postJson,
  type ServedApp,
  serveOnFreePort,
  waitForStatus,
} from './harness.js';
import { waitForOk } from './processes.js';
import { hasTool } from './tools.js';

/**
 * Issue 16: every command the README and docs/ show is run by a test. The inventory below
 * lists each one with the test that runs it (this file runs the walk-through, the streams, the
 * CLI, the client snippet and the scripts); a command the docs gain without an entry here
 * fails the inventory test, and so does an entry whose test no longer holds its evidence.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const docFiles = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  'examples/acme-worker/README.md',
].filter((path) => {
  try {
    read(path);
    return true;
  } catch {
    return false;
  }
});

interface Command {
  file: string;
  /** The command as bash reads it: continuation lines joined, a trailing comment dropped. */
  text: string;
  /** The comment lines that follow it (what the docs say it answers). */
  answer: string[];
  /** Its block's text, for finding it again. */
  block: number;
}

/** The commands of a doc's sh blocks, and the `npm …`/`npx …` commands its prose quotes. */
function commandsOf(file: string): Command[] {
  const text = read(file);
  const found: Command[] = [];
  const blocks = [...text.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)];
  blocks.forEach((match, block) => {
    let last: Command | undefined;
    for (const raw of (match[1] ?? '').replace(/\\\n\s*/g, '').split('\n')) {
      const line = raw.trim();
      if (line === '') continue;
      if (line.startsWith('#')) {
        last?.answer.push(line);
        continue;
      }
      last = { file, text: line.replace(/\s+#\s.*$/, ''), answer: [], block };
      found.push(last);
    }
  });
  const prose = text.replace(/```[\s\S]*?```/g, '');
  for (const m of prose.matchAll(/`((?:npm (?:run|ci|test|start|install)|npx |DRILL_JOBS=)[^`]*)`/g)) {
    found.push({ file, text: m[1] ?? '', answer: [], block: -1 });
  }
  return found;
}

const commands = docFiles.flatMap(commandsOf);

/** Where each command is run: `here` (this file), or a test file (or CI script) holding `evidence`. */
interface Coverage {
  match: RegExp;
  by: string;
  evidence?: string;
  /** Why a command is only checked statically (no Docker engine, no Helm here). */
  statically?: string;
}

const HERE = 'test/docs-commands.int.test.ts';

/** Whether the machine's own Redis (127.0.0.1:6379) and Postgres (127.0.0.1:5432) answer. */
function machineServersAnswer(): boolean {
  const redis = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'ping'], {
    encoding: 'utf8',
    timeout: 3_000,
  });
  const pg = spawnSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-Atc', 'select 1'], {
    encoding: 'utf8',
    timeout: 3_000,
  });
  return redis.stdout?.trim() === 'PONG' && pg.stdout?.trim() === '1';
}
const coverage: Coverage[] = [
  // Quick start and the dev launcher.
  { match: /^npm ci && npm start$/, by: 'test/dev-launcher.int.test.ts', evidence: "spawn('npm', ['start']" },
  { match: /^npm start$/, by: 'test/dev-launcher.int.test.ts', evidence: "spawn('npm', ['start']" },
  { match: /^npm test$/, by: '.ci/run', evidence: 'npm test' },
  {
    match: /^export CONVEYOR_KEY=\$\(cat \.data\/dev-admin-key\)$/,
    by: 'test/dev-launcher.int.test.ts',
    evidence: 'dev-admin-key',
  },
  // The walk-through, the streams, the CLI: run here against a served API and a worker.
  { match: /^curl -s -H "authorization: Bearer \$CONVEYOR_KEY" /, by: HERE },
  { match: /^curl -N -H "authorization: Bearer \$CONVEYOR_KEY" /, by: HERE },
  { match: /^export CONVEYOR_URL=/, by: HERE },
  { match: /^(echo .* \| )?npx conveyor (submit|watch|get|list|cancel|retry|queues|keys create)/, by: HERE },
  // The schedules and webhooks blocks (headers in H).
  {
    match: /^H=\(|^curl -s "\$\{H\[@\]\}" |^(id|job|delivery)=\S+$/,
    by: 'test/readme-curl.int.test.ts',
    evidence: "startsWith('H=(')",
  },
  // Scripts.
  { match: /^npm run db:migrate$/, by: 'test/db-migrate.int.test.ts', evidence: "'db:migrate'" },
  { match: /^npm run (start:api|start:worker|db:generate|typecheck|lint|format|soak)$/, by: HERE },
  {
    match: /^npm run keys( -- (generate|create --tenant acme --scopes admin))?$/,
    by: 'test/keys-command.int.test.ts',
    evidence: "'keys'",
  },
  {
    match: /^npm run pack$/,
    by: 'test/packages/packs.int.test.ts',
    evidence: "run('npm', ['run', 'pack'], root)",
  },
  {
    match: /^npm install (-D )?\/path\/to\/conveyor\/dist-packages\//,
    by: 'test/packages/packs.int.test.ts',
    evidence: 'tgz',
  },
  {
    match: /^\(cd \/path\/to\/conveyor && npm ci && npm run pack\)$/,
    by: 'test/packages/packs.int.test.ts',
    evidence: "run('npm', ['run', 'pack'], root)",
  },
  // The example's `npm start` is `node dist/worker.js`, which the packs test runs after `npm run build`.
  {
    match: /^npm run build && npm start$/,
    by: 'test/packages/packs.int.test.ts',
    evidence: "['dist/worker.js']",
  },
  {
    match: /^npm run build$/,
    by: 'test/packages/packs.int.test.ts',
    evidence: "run('npm', ['run', 'build'], project)",
  },
  {
    match: /^(echo .* \| )?npx conveyor flow (submit|get|cancel|retry)\b/,
    by: 'test/cli.int.test.ts',
    evidence: "['flow', 'submit', file, '--wait']",
  },
  {
    match: /^npx conveyor dev src\/worker\.ts$/,
    by: 'test/packages/packs.int.test.ts',
    evidence: "['dev', 'src/worker.ts']",
  },
  { match: /^npm run bench -- --smoke$/, by: '.ci/run', evidence: 'npm run bench:smoke' },
  // The full-size bench takes minutes: CI runs the same script at smoke sizes; `--only` is run here.
  { match: /^npm run bench$/, by: '.ci/run', evidence: 'npm run bench:smoke' },
  { match: /^npm run bench -- --only=ingest,drain$/, by: HERE },
  { match: /^npm run bench -- --only=cluster$/, by: '.ci/run', evidence: 'npm run bench:smoke' },
  // Run here on 20,000 rows (the docs show 10 million).
  { match: /^npm run bench:history( -- \d+)?$/, by: HERE },
  // Run here at small sizes (the docs show 20,000 and 30,000).
  { match: /^bench\/(drain|ingest)-cost\.sh \d+$/, by: HERE },
  {
    match: /^DRILL_JOBS=20000( npx vitest run test\/drills\/worker-crash)?$/,
    by: 'test/drills/drill-kit.ts',
    evidence: 'DRILL_JOBS',
  },
  // What the images' Dockerfiles run: the production image's install is rebuilt and run by a test.
  {
    match: /^npm ci --omit=dev --omit=peer --omit=optional$/,
    by: 'test/deploy/production-image.int.test.ts',
    evidence: '--omit=dev',
  },
  {
    match: /^npm ci$/,
    by: 'test/packages/packs.int.test.ts',
    evidence: "'npm'",
    statically:
      "the example's Dockerfile (npm ci, tsc): no Docker engine here; the packs test installs and builds the example as it does",
  },
  // No Docker engine and no Helm here: the files they read are checked statically.
  {
    match: /^(cp \.env\.example \.env|docker compose .*|helm install conveyor charts\/conveyor --set .*)$/,
    by: 'test/deploy/deploy-files.test.ts',
    evidence: '.env.example',
    statically:
      'docker and helm cannot run here; the compose files, the chart and .env.example are parsed and checked',
  },
];

describe('the docs commands inventory', () => {
  it('finds commands in the README and docs/', () => {
    expect(commands.filter((c) => c.file === 'README.md').length).toBeGreaterThan(40);
    for (const file of ['docs/deploy.md', 'docs/guarantees.md', 'docs/own-jobs.md', 'docs/performance.md']) {
      expect(
        commands.some((c) => c.file === file),
        file,
      ).toBe(true);
    }
  });

  it('names, for every command, the test that runs it, and that test holds its evidence', () => {
    const uncovered = commands.filter((c) => !coverage.some((entry) => entry.match.test(c.text)));
    expect(uncovered.map((c) => `${c.file}: ${c.text}`)).toEqual([]);
    for (const entry of coverage) {
      expect(
        commands.some((c) => entry.match.test(c.text)),
        `${entry.match} matches no command any more`,
      ).toBe(true);
      if (entry.evidence) expect(read(entry.by), `${entry.by} for ${entry.match}`).toContain(entry.evidence);
    }
  });
});

// ---- Run here: against one served API with a worker.

const services = useTestServices();
let p: Pipeline;
let served: ServedApp;
let base: string;

beforeAll(async () => {
  p = await createPipeline(services);
  p.startWorker();
  served = await serveOnFreePort(p.app);
  base = served.url;
});
afterAll(async () => {
  await served.close();
  await p.close();
});

const exec = promisify(execFile);

/** Runs `script` in bash from the repo root, as a reader would paste it (the API serving is in this process: never spawnSync). */
async function bash(script: string, env: Record<string, string> = {}, timeoutMs = 30_000) {
  try {
    const run = await exec('bash', ['-c', script], {
      cwd: root,
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { ...process.env, CONVEYOR_KEY: p.apiKey, ...env },
    });
    return { code: 0, stdout: run.stdout, stderr: run.stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

async function submitted(body: unknown): Promise<string> {
  const response = await postJson(p, '/v1/jobs', body);
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

/** Real ids for the docs' `<id>` placeholders, fit for what the command does with them. */
const ids = {
  cancelled: undefined as string | undefined,
  /** A job still waiting (delayed): cancellable; retryable once cancelled. */
  async cancellable() {
    this.cancelled = await submitted({ type: 'noop', delayMs: 60_000 });
    return this.cancelled;
  },
  /** A job that completes shortly: a stream of it ends with its terminal event. */
  soon: () => submitted({ type: 'sleep', data: { ms: 300 } }),
  async finished() {
    const id = await submitted({ type: 'echo', data: 'docs' });
    await waitForStatus((path) => p.request(path), id, ['completed']);
    return id;
  },
};

async function idFor(command: string): Promise<string> {
  if (/\bcancel\b/.test(command)) return ids.cancellable();
  if (/\bretry\b/.test(command)) {
    if (!ids.cancelled) throw new Error(`no cancelled job to retry before "${command}"`);
    return ids.cancelled;
  }
  if (/\/events\b|\bwatch\b/.test(command)) return ids.soon();
  return ids.finished();
}

/** The README's walk-through commands that call the API with the key in -H, in order. */
const walkThrough = commands.filter((c) => c.file === 'README.md' && /^curl -s -H /.test(c.text));

describe("the README's walk-through, run in bash against a served API", () => {
  it('covers the sections from submit to expiry', () => {
    const routes = walkThrough.map((c) => /127\.0\.0\.1:3000(\/v1\/[a-z-]+)/.exec(c.text)?.[1]);
    expect(new Set(routes)).toEqual(new Set(['/v1/jobs', '/v1/job-types', '/v1/stats', '/v1/queues']));
    expect(walkThrough.length).toBeGreaterThanOrEqual(10);
  });

  it('answers every command as its comment says (2xx, or the problem it shows)', async () => {
    let lastSubmitted: string | undefined;
    for (const command of walkThrough) {
      let text = command.text.replaceAll('http://127.0.0.1:3000', base);
      if (text.includes('0b6f…')) {
        if (!lastSubmitted) throw new Error(`no job submitted before "${command.text}"`);
        text = text.replaceAll('0b6f…', lastSubmitted);
      }
      if (text.includes('<id>')) text = text.replaceAll('<id>', await idFor(text));
      if (text.includes('<nextCursor>')) {
        const query = /\?([^']*)&cursor=<nextCursor>/.exec(text)?.[1] ?? '';
        const page = (await (await p.request(`/v1/jobs?${query}&limit=1`)).json()) as { nextCursor: string };
        expect(page.nextCursor, 'a first page to follow').toBeTruthy();
        text = text.replace('<nextCursor>', encodeURIComponent(page.nextCursor));
      }
      const run = await bash(text.replace(/^curl -s /, `curl -s -w '\\n%{http_code}' `));
      const lines = run.stdout.trimEnd().split('\n');
      const status = Number(lines.at(-1));
      const body = lines.slice(0, -1).join('\n');
      const shown = command.answer.join(' ');
      const problem = /"status":(4\d\d)/.exec(shown);
      const context = `${command.text}\n${body}${run.stderr}`;
      if (problem) {
        expect(status, context).toBe(Number(problem[1]));
        expect(body, context).toContain('"code":"VALIDATION_FAILED"');
      } else {
        expect(status, context).toBeGreaterThanOrEqual(200);
        expect(status, context).toBeLessThan(300);
      }
      if (/-X POST \S+\/v1\/jobs /.test(text) && status === 202)
        lastSubmitted = (JSON.parse(body) as { id: string }).id;
      // A submit the docs show answering `queued` answers it here too.
      if (/-X POST /.test(text) && /"status":"queued"/.test(shown))
        expect(body, context).toContain('"status":"queued"');
    }
  });
});

describe("the README's streams, run with curl -N", () => {
  const streams = commands.filter((c) => c.file === 'README.md' && c.text.startsWith('curl -N '));

  it('follow a job from its snapshot to its terminal event, then end', async () => {
    const command = streams.find((c) => c.text.includes('/events') && c.text.includes('<id>'));
    if (!command) throw new Error('README lacks the job stream command');
    const text = command.text.replaceAll('http://127.0.0.1:3000', base).replace('<id>', await ids.soon());
    const run = await bash(text, {}, 15_000);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^event: snapshot\ndata: \{/);
    expect(run.stdout).toContain('"status":"completed"');
  });

  it("carry the tenant's firehose, filtered as the command asks", async () => {
    const command = streams.find((c) => c.text.includes('/v1/events?'));
    if (!command) throw new Error('README lacks the firehose command');
    // The firehose never ends by itself: curl stops after 4 s (exit 28), having printed what came.
    const running = bash(
      `${command.text.replaceAll('http://127.0.0.1:3000', base)} --max-time 4`,
      {},
      15_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const id = await submitted({ type: 'sleep', data: { ms: 50 } });
    await submitted({ type: 'echo', data: 'filtered out' });
    const run = await running;
    expect(run.code).toBe(28);
    expect(run.stdout).toContain(`"jobId":"${id}"`);
    expect(run.stdout).toContain('"status":"completed"');
    expect(run.stdout).not.toContain('"type":"echo"');
  });
});

describe("the README's CLI block, run in bash with npx", () => {
  it('runs every command with exit 0', async () => {
    const exported = commands.find(
      (c) => c.file === 'README.md' && c.text.startsWith('export CONVEYOR_URL='),
    );
    const block = commands.filter((c) => c.file === 'README.md' && c.block === exported?.block);
    expect(block.length).toBeGreaterThanOrEqual(9);
    const [exports, ...rest] = block;
    expect(exports?.text).toMatch(/^export CONVEYOR_URL=/);
    const preamble = (exports?.text ?? '').replaceAll('http://127.0.0.1:3000', base);
    // Something for `list --status failed` to show.
    const failed = await submitted({ type: 'test.fail', data: { message: 'for the list' }, attempts: 1 });
    await waitForStatus((path) => p.request(path), failed, ['failed']);
    for (const command of rest) {
      let text = command.text;
      if (text.includes('<id>')) text = text.replaceAll('<id>', await idFor(text));
      const run = await bash(`${preamble}\n${text}`, {}, 30_000);
      expect(run.code, `${command.text}\n${run.stdout}${run.stderr}`).toBe(0);
      expect(run.stdout.length, command.text).toBeGreaterThan(0);
    }
  });
});

describe("the README's TypeScript client snippet", () => {
  it('compiles under the repo strict settings and runs against the API', async () => {
    const snippet = /### TypeScript client[\s\S]*?```ts\n([\s\S]*?)```/.exec(read('README.md'))?.[1];
    if (!snippet) throw new Error('README lacks the client snippet');
    // Inside the repo, so @conveyor/client resolves as a project's install does.
    const dir = join(root, 'node_modules/.cache/conveyor-docs-snippet');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    writeFileSync(
      join(dir, 'snippet.ts'),
      `${snippet}\nconsole.log(JSON.stringify({ done: job.status }));\n`,
    );
    // Run against this test's API: the same program with its URL swapped.
    writeFileSync(
      join(dir, 'run.ts'),
      `${snippet.replace("'http://127.0.0.1:3000'", `'${base}'`)}\nconsole.log(JSON.stringify({ done: job.status }));\n`,
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../../tsconfig.base.json',
        compilerOptions: {
          noEmit: true,
          composite: false,
          declaration: false,
          declarationMap: false,
          lib: ['es2023', 'dom'],
        },
        include: ['snippet.ts'],
      }),
    );
    const tsc = await bash(`npx tsc -p ${dir}`);
    expect(tsc.code, tsc.stdout + tsc.stderr).toBe(0);
    const run = await bash(`npx tsx ${join(dir, 'run.ts')}`, {}, 30_000);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain("kind: 'snapshot'"); // console.log(item) of the watch loop
    expect(run.stdout.trim().split('\n').at(-1)).toBe('{"done":"completed"}');
  });

  it('"Adding a job type" is a complete project: its files compile under the strict settings', async () => {
    const snippet = /## Adding a job type[\s\S]*?```ts\n([\s\S]*?)```/.exec(read('README.md'))?.[1];
    if (!snippet) throw new Error('README lacks the job type snippet');
    // One block, two files, each opened by a "// src/<file>" line.
    const files = [...snippet.matchAll(/^\/\/ (src\/\S+\.ts)\b.*\n([\s\S]*?)(?=^\/\/ src\/|(?![\s\S]))/gm)];
    expect(files.map((f) => f[1])).toEqual(['src/jobs/report.ts', 'src/worker.ts']);
    const dir = join(root, 'node_modules/.cache/conveyor-docs-job-type');
    rmSync(dir, { recursive: true, force: true });
    for (const [, file, body] of files) {
      mkdirSync(join(dir, file ?? '', '..'), { recursive: true });
      writeFileSync(join(dir, file ?? ''), body ?? '');
    }
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../../tsconfig.base.json',
        compilerOptions: { noEmit: true, composite: false, declaration: false, declarationMap: false },
        include: ['src'],
      }),
    );
    const tsc = await bash(`npx tsc -p ${dir}`);
    expect(tsc.code, tsc.stdout + tsc.stderr).toBe(0);
  });
});

describe('the scripts the README names', () => {
  /** Runs an npm script in its own process group until `ready` answers, then Ctrl-C. */
  async function serveScript(script: string, env: Record<string, string>, ready: string) {
    const child = spawn('npm', ['run', script], {
      cwd: root,
      detached: true,
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    try {
      await waitForOk(ready, 60_000).catch((error: Error) => {
        throw new Error(`${error.message}\n${output}`);
      });
    } finally {
      const exited = once(child, 'exit');
      if (child.pid) process.kill(-child.pid, 'SIGINT');
      const late = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 15_000);
      await exited;
      clearTimeout(late);
    }
    return output;
  }

  const env = () => ({
    REDIS_URL: services.redisUrl,
    DATABASE_URL: services.databaseUrl,
    QUEUE_PREFIX: services.prefix,
    BOOTSTRAP_ADMIN_KEY: p.apiKey,
  });

  it('npm run start:api builds, then serves the API on PORT', { timeout: 90_000 }, async () => {
    const port = await freePort();
    await serveScript(
      'start:api',
      { ...env(), PORT: String(port), HOST: '127.0.0.1' },
      `http://127.0.0.1:${port}/health/ready`,
    );
  });

  it('npm run start:worker builds, then runs a worker serving health on WORKER_PORT', {
    timeout: 90_000,
  }, async () => {
    const port = await freePort();
    await serveScript(
      'start:worker',
      { ...env(), WORKER_PORT: String(port) },
      `http://127.0.0.1:${port}/health/ready`,
    );
  });

  it('npm run db:generate finds the migrations in step with the schema', async () => {
    const run = await bash('npm run db:generate', {}, 60_000);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('No schema changes');
  });

  it('npm run typecheck and npm run lint pass', { timeout: 120_000 }, async () => {
    for (const script of ['typecheck', 'lint']) {
      const run = await bash(`npm run ${script}`, {}, 120_000);
      expect(run.code, `${script}\n${run.stdout}${run.stderr}`).toBe(0);
    }
  });

  it('npm run format rewrites a badly formatted file (in a copy of the setup, not this tree)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-format-'));
    try {
      const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
      writeFileSync(
        join(dir, 'package.json'),
        JSON.stringify({ name: 'format-check', private: true, scripts: { format: scripts.format } }),
      );
      cpSync(join(root, 'biome.json'), join(dir, 'biome.json'));
      symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
      writeFileSync(join(dir, 'messy.ts'), 'export const  x = {a:1,\n  b:"two"}\n');
      const run = await exec('bash', ['-c', 'git init -q && npm run format'], { cwd: dir, encoding: 'utf8' });
      expect(run.stdout + run.stderr).toMatch(/Fixed \d+ files?/);
      expect(readFileSync(join(dir, 'messy.ts'), 'utf8')).toBe("export const x = { a: 1, b: 'two' };\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('npm run soak holds its guarantees over a short run', { timeout: 120_000 }, async () => {
    const run = await bash(
      'npm run soak',
      {
        SOAK_MINUTES: '0.15',
        SOAK_RESTART_SECONDS: '3',
        SOAK_JOBS_PER_SECOND: '40',
        SOAK_RSS_TOLERANCE: '10',
      },
      110_000,
    );
    expect(run.code, run.stdout.slice(-2_000) + run.stderr.slice(-2_000)).toBe(0);
    expect(run.stdout).toMatch(/soak: 0\.15 min, (\d+) accepted, \1 rows, 0 lost/);
  });

  it('npm run bench -- --only=ingest,drain runs those two (at smoke sizes here)', {
    timeout: 180_000,
  }, async () => {
    const run = await bash('npm run bench -- --only=ingest,drain --smoke', {}, 170_000);
    expect(run.code, run.stdout.slice(-2_000) + run.stderr.slice(-2_000)).toBe(0);
    expect(run.stdout).toMatch(/^ {2}ingest /m);
    expect(run.stdout).toMatch(/^ {2}drain /m);
    expect(run.stdout).not.toMatch(/^ {2}endToEnd /m);
  });

  it('npm run bench:history times reads, batches and a prune against a filled history', {
    timeout: 120_000,
  }, async () => {
    const run = await bash('npm run bench:history -- 20000', { HISTORY_VACUUM_WAIT_MS: '500' }, 110_000);
    expect(run.code, run.stdout.slice(-2_000) + run.stderr.slice(-2_000)).toBe(0);
    expect(run.stdout).toMatch(/^filled 20,000 rows/m);
    for (const line of [
      'get by id',
      'list page (failed, a type)',
      'list page matching nothing',
      'terminal-row batch of 500',
    ])
      expect(run.stdout).toMatch(
        new RegExp(
          `${line.replace(/[()]/g, '\\$&')}\\s+p50 \\d+\\.\\d+ ms, p99 \\d+\\.\\d+ ms \\([1-9]\\d* runs\\)`,
        ),
      );
    expect(run.stdout).toMatch(/retention prune: [1-9][\d,]* rows \(a day's\)/);
  });

  // The cost scripts measure the machine's own Redis (127.0.0.1:6379) and Postgres (5432), as
  // the docs say: CI and this machine have them; elsewhere these two are skipped.
  const costScripts = hasTool('psql') && hasTool('redis-cli') && machineServersAnswer();
  it.skipIf(!costScripts)(
    'bench/drain-cost.sh prints CPU per job of each process and Redis commands per job',
    {
      timeout: 120_000,
    },
    async () => {
      const run = await bash('bench/drain-cost.sh 2000', {}, 110_000);
      expect(run.code, run.stdout.slice(-2_000) + run.stderr.slice(-2_000)).toBe(0);
      for (const kind of ['base', 'conveyor']) {
        expect(run.stdout).toMatch(
          new RegExp(`== ${kind}: CPU ms per 1000 jobs: redis-server \\d+, postgres \\d+, worker [1-9]\\d*`),
        );
        expect(run.stdout).toMatch(new RegExp(`== ${kind}: [1-9]\\d* jobs/s`));
      }
      // Conveyor's worker publishes its events: the baseline's does not.
      expect(run.stdout.split('== conveyor: per job')[1]).toMatch(/publish\s+4\.00 calls/);
      expect(run.stdout).toMatch(/TOTAL\s+\d+\.\d+ calls/);
    },
  );

  it.skipIf(!costScripts)(
    'bench/ingest-cost.sh prints CPU per submit of each process and Redis commands per submit',
    {
      timeout: 120_000,
    },
    async () => {
      const run = await bash('bench/ingest-cost.sh 2000', {}, 110_000);
      expect(run.code, run.stdout.slice(-2_000) + run.stderr.slice(-2_000)).toBe(0);
      for (const kind of ['base', 'conveyor']) {
        expect(run.stdout).toMatch(
          new RegExp(
            `== ${kind}: [1-9]\\d* submits/s; CPU µs per submit: server [1-9]\\d*, redis-server \\d+, postgres \\d+`,
          ),
        );
      }
      expect(run.stdout).not.toMatch(/non 2xx/);
      // The tenant in-flight reservation is Conveyor's own script: two evalsha per submit.
      expect(run.stdout.split('== conveyor: per submit')[1]).toMatch(/evalsha\s+2\.00 calls/);
    },
  );
});
