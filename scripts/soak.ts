/**
 * `npm run soak`: steady load for SOAK_MINUTES (30) with a worker restart every
 * SOAK_RESTART_SECONDS (60, alternating SIGTERM and SIGKILL), sampling every process's RSS;
 * at the end every accepted job must have exactly one terminal row. Not run in CI.
 * Uses REDIS_URL / DATABASE_URL, or private servers like the tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createTemplateDatabase, createTestDatabase, freePort, resolveServices } from '@conveyor/dev';
import postgres from 'postgres';

const root = fileURLToPath(new URL('..', import.meta.url));
const minutes = Number(process.env.SOAK_MINUTES ?? 30);
const restartEvery = Number(process.env.SOAK_RESTART_SECONDS ?? 60) * 1_000;
const rate = Number(process.env.SOAK_JOBS_PER_SECOND ?? 200);
const key = `cvk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;

async function rssMb(pid: number | undefined): Promise<number> {
  if (!pid) return 0;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function main(): Promise<void> {
  const services = await resolveServices({ env: process.env, dataDir: `${root}.data/soak-pg` });
  const template = `conveyor_soak_tpl_${process.pid}`;
  await createTemplateDatabase(services.databaseUrl, template);
  const db = await createTestDatabase(services.databaseUrl, template);
  const prefix = `soak-${randomBytes(3).toString('hex')}`;
  const apiPort = await freePort();
  const env = {
    ...process.env,
    REDIS_URL: services.redisUrl,
    DATABASE_URL: db.url,
    QUEUE_PREFIX: prefix,
    BOOTSTRAP_ADMIN_KEY: key,
    RATE_LIMIT_PER_SECOND: '0',
    LOG_LEVEL: 'warn',
    WORKER_LOCK_DURATION_MS: '5000',
    WORKER_STALLED_INTERVAL_MS: '2000',
  };
  const start = (app: string, extra: Record<string, string> = {}): ChildProcess =>
    spawn(process.execPath, [`apps/${app}/dist/main.js`], {
      cwd: root,
      env: { ...env, ...extra },
      stdio: 'inherit',
    });
  const api = start('api', { PORT: String(apiPort) });
  let workers = [start('worker', { WORKER_PORT: '0' }), start('worker', { WORKER_PORT: '0' })];
  await new Promise((resolve) => setTimeout(resolve, 3_000));

  const accepted: string[] = [];
  const samples: { minute: number; api: number; workers: number[] }[] = [];
  const until = Date.now() + minutes * 60_000;
  let nextRestart = Date.now() + restartEvery;
  let restarts = 0;
  while (Date.now() < until) {
    const tick = Date.now();
    const jobs = Array.from({ length: Math.max(1, Math.round(rate / 10)) }, (_, i) => ({
      type: 'sleep',
      data: { ms: i % 20 },
    }));
    const response = await fetch(`http://127.0.0.1:${apiPort}/v1/jobs/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jobs }),
    }).catch(() => undefined);
    if (response?.status === 202) {
      const { items } = (await response.json()) as { items: { id: string; outcome: string }[] };
      accepted.push(...items.filter((i) => i.outcome === 'enqueued').map((i) => i.id));
    }
    if (Date.now() >= nextRestart) {
      const [old, ...rest] = workers;
      old?.kill(restarts % 2 === 0 ? 'SIGTERM' : 'SIGKILL');
      workers = [...rest, start('worker', { WORKER_PORT: '0' })];
      restarts++;
      nextRestart += restartEvery;
      samples.push({
        minute: Math.round((Date.now() - (until - minutes * 60_000)) / 60_000),
        api: await rssMb(api.pid),
        workers: await Promise.all(workers.map((w) => rssMb(w.pid))),
      });
      console.log(
        `soak: ${accepted.length} accepted, ${restarts} restarts, RSS ${JSON.stringify(samples.at(-1))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - tick))));
  }

  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  const deadline = Date.now() + 120_000;
  let recorded = 0;
  while (Date.now() < deadline) {
    [{ n: recorded = 0 } = { n: 0 }] = await sql<{ n: number }[]>`select count(*)::int as n from jobs`;
    if (recorded >= accepted.length) break;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  const [{ reruns = 0 } = {}] = await sql<
    { reruns: number }[]
  >`select count(*)::int as reruns from jobs where runs > 1`;
  console.log(
    JSON.stringify(
      {
        minutes,
        accepted: accepted.length,
        recorded,
        lost: accepted.length - recorded,
        reruns,
        restarts,
        samples,
      },
      null,
      2,
    ),
  );
  for (const child of [api, ...workers]) child.kill('SIGTERM');
  await sql.end();
  await db.drop();
  await services.stop();
  process.exit(recorded === accepted.length ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(`soak: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
