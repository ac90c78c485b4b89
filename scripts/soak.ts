/**
 * `npm run soak`: steady load for SOAK_MINUTES (30) while one worker is restarted every
 * SOAK_RESTART_SECONDS (60, alternating SIGTERM and SIGKILL) next to a worker that runs
 * throughout. Samples every process's RSS; at the end every accepted job must have exactly
 * one terminal row, and the long-lived processes (the API and the steady worker) must hold
 * flat memory: the mean RSS of the last third of the run within SOAK_RSS_TOLERANCE (10 %)
 * of the middle third (the first third is warm-up). Exits 1 otherwise. Not run in CI.
 * Uses REDIS_URL / DATABASE_URL, or private servers like the tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { freePort, processRssMb, startIsolatedRun } from '@conveyor/dev';
import postgres from 'postgres';

const root = fileURLToPath(new URL('..', import.meta.url));
const minutes = Number(process.env.SOAK_MINUTES ?? 30);
const restartEvery = Number(process.env.SOAK_RESTART_SECONDS ?? 60) * 1_000;
const rate = Number(process.env.SOAK_JOBS_PER_SECOND ?? 200);
const tolerance = Number(process.env.SOAK_RSS_TOLERANCE ?? 0.1);
const sampleEvery = Math.min(30_000, (minutes * 60_000) / 30);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Mean RSS of the last third against the middle third: the growth after warm-up. */
function growth(series: number[]): { middleMb: number; lastMb: number; growth: number } {
  const third = Math.floor(series.length / 3);
  const middleMb = mean(series.slice(third, 2 * third));
  const lastMb = mean(series.slice(2 * third));
  return { middleMb: Math.round(middleMb), lastMb: Math.round(lastMb), growth: lastMb / middleMb - 1 };
}

async function main(): Promise<void> {
  const run = await startIsolatedRun({ name: 'soak', env: process.env, dataDir: `${root}.data/soak-pg` });
  const { prefix } = run;
  const apiPort = await freePort();
  const env = {
    ...process.env,
    REDIS_URL: run.redisUrl,
    DATABASE_URL: run.databaseUrl,
    QUEUE_PREFIX: prefix,
    BOOTSTRAP_ADMIN_KEY: run.adminKey,
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
  const steady = start('worker', { WORKER_PORT: '0' });
  let rotating = start('worker', { WORKER_PORT: '0' });
  await new Promise((resolve) => setTimeout(resolve, 3_000));

  const accepted: string[] = [];
  const samples: { second: number; api: number; steadyWorker: number; rotatingWorker: number }[] = [];
  const began = Date.now();
  const until = began + minutes * 60_000;
  let nextRestart = began + restartEvery;
  let nextSample = began + sampleEvery;
  let restarts = 0;
  while (Date.now() < until) {
    const tick = Date.now();
    const jobs = Array.from({ length: Math.max(1, Math.round(rate / 10)) }, (_, i) => ({
      type: 'sleep',
      data: { ms: i % 20 },
    }));
    const response = await fetch(`http://127.0.0.1:${apiPort}/v1/jobs/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${run.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jobs }),
    }).catch(() => undefined);
    if (response?.status === 202) {
      const { items } = (await response.json()) as { items: { id: string; outcome: string }[] };
      accepted.push(...items.filter((i) => i.outcome === 'enqueued').map((i) => i.id));
    }
    if (Date.now() >= nextRestart) {
      rotating.kill(restarts % 2 === 0 ? 'SIGTERM' : 'SIGKILL');
      rotating = start('worker', { WORKER_PORT: '0' });
      restarts++;
      nextRestart += restartEvery;
    }
    if (Date.now() >= nextSample) {
      nextSample += sampleEvery;
      samples.push({
        second: Math.round((Date.now() - began) / 1_000),
        api: await processRssMb(api.pid),
        steadyWorker: await processRssMb(steady.pid),
        rotatingWorker: await processRssMb(rotating.pid),
      });
      console.log(
        `soak: ${accepted.length} accepted, ${restarts} restarts, RSS MB ${JSON.stringify(samples.at(-1))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - tick))));
  }

  // Every accepted id must have its row: compared id by id, not by counts.
  const sql = postgres(run.databaseUrl, { max: 1, onnotice: () => {} });
  const missing = async () => {
    const rows = await sql<{ id: string }[]>`
      select a.id from unnest(${accepted}::uuid[]) as a(id)
      where not exists (select 1 from jobs j where j.id = a.id)`;
    return rows.length;
  };
  const deadline = Date.now() + 120_000;
  let lost = await missing();
  while (lost > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    lost = await missing();
  }
  const [{ reruns = 0, rows = 0 } = {}] = await sql<{ reruns: number; rows: number }[]>`
    select count(*) filter (where runs > 1)::int as reruns, count(*)::int as rows from jobs`;
  const memory = {
    api: growth(samples.map((s) => s.api)),
    steadyWorker: growth(samples.map((s) => s.steadyWorker)),
  };
  const flat = Object.values(memory).every((m) => m.growth <= tolerance); // shrinking is not a leak
  const report = {
    at: new Date().toISOString(),
    minutes,
    jobsPerSecond: rate,
    accepted: accepted.length,
    rows,
    lost,
    reruns,
    restarts,
    memory,
    flat,
    samples,
  };
  await mkdir(`${root}bench/results`, { recursive: true });
  const file = `${root}bench/results/soak-${report.at.replace(/[:.]/g, '-')}.json`;
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(
    `soak: ${minutes} min, ${accepted.length} accepted, ${rows} rows, ${lost} lost, ${reruns} re-run, ${restarts} worker restarts; ` +
      `RSS API ${memory.api.middleMb}→${memory.api.lastMb} MB, steady worker ${memory.steadyWorker.middleMb}→${memory.steadyWorker.lastMb} MB ` +
      `(${flat ? 'flat' : 'NOT flat'} within ${tolerance * 100} %); written to ${file}`,
  );
  await Promise.all(
    [api, steady, rotating].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }),
  );
  await sql.end();
  // Nothing left behind: the run's keys, its database and template, private servers.
  await run.close();
  process.exit(lost === 0 && flat ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(`soak: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
