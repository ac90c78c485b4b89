/**
 * `npm start`: the dev launcher. Starts a private redis-server and an embedded Postgres
 * when REDIS_URL / DATABASE_URL are unset, migrates, builds, then runs one API and one
 * worker with pretty logs. Ctrl-C stops everything.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrateDatabase } from '@conveyor/core/db';
import { devAdminKey, preferredPort, resolveServices } from '@conveyor/dev';
import { PinoPretty } from 'pino-pretty';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Where the embedded Postgres, the private Redis and the admin key live between runs. */
const dataDir = resolve(root, process.env.CONVEYOR_DATA_DIR ?? '.data');
const say = (line: string) => console.log(`\x1b[36mconveyor\x1b[0m ${line}`);

/** Waits until every URL answers 200, or says which did not within `timeoutMs` (and goes on). */
async function untilReady(urls: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const url of urls) {
    while (
      !(await fetch(url).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline) {
        say(`${url} is not ready after ${timeoutMs / 1_000} s; see the logs above`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** The configured port, or `preferred` when it is free, else any free port. */
async function portFor(name: 'PORT' | 'WORKER_PORT', preferred: number): Promise<string> {
  const configured = process.env[name];
  if (configured) return configured;
  const port = await preferredPort(preferred);
  if (port !== preferred) say(`${name} unset and ${preferred} is taken: using ${port}`);
  return String(port);
}

async function main(): Promise<void> {
  const port = await portFor('PORT', 3000);
  const workerPort = await portFor('WORKER_PORT', 3001);
  const services = await resolveServices({
    env: process.env,
    dataDir: `${dataDir}/pg`,
    redisDir: `${dataDir}/redis`,
    persistent: true,
    log: say,
  });
  const children: ChildProcess[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    await services.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  await migrateDatabase(services.databaseUrl);
  say('database migrated');
  const build = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0) {
    say('build failed (see above)');
    return stop(1);
  }

  const apiKey = await devAdminKey(dataDir);
  const env = {
    ...process.env,
    REDIS_URL: services.redisUrl,
    DATABASE_URL: services.databaseUrl,
    BOOTSTRAP_ADMIN_KEY: apiKey,
    PORT: port,
    WORKER_PORT: workerPort,
  };
  for (const app of ['api', 'worker'] as const) {
    const child = spawn(process.execPath, ['--enable-source-maps', `apps/${app}/dist/main.js`], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout?.pipe(
      PinoPretty({ colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' }),
    );
    child.once('exit', (code) => {
      if (!stopping) {
        say(`${app} exited with code ${code}; stopping`);
        void stop(code ?? 1);
      }
    });
    children.push(child);
  }

  const url = `http://127.0.0.1:${port}`;
  // The API accepts the job types the worker registered: say "try it" once both are ready,
  // so the first submit is not refused as an unknown type.
  await untilReady([`${url}/health/ready`, `http://127.0.0.1:${workerPort}/health/ready`], 60_000);
  say(
    `API on ${url} (Redis ${services.redisUrl}, Postgres ${services.databaseUrl.replace(/:[^:@/]*@/, ':***@')})`,
  );
  say(`admin API key (tenant default, kept in ${dataDir}/dev-admin-key): ${apiKey}`);
  say('try it:');
  console.log(`  export CONVEYOR_KEY=${apiKey}`);
  console.log(
    `  curl -s -X POST ${url}/v1/jobs -H "authorization: Bearer $CONVEYOR_KEY" -H 'content-type: application/json' -d '{"type":"echo","data":{"hello":"world"}}'`,
  );
  console.log(`  curl -s ${url}/v1/jobs/<id from above> -H "authorization: Bearer $CONVEYOR_KEY"`);
  // The key rides in the URL fragment, which the browser never sends to the server.
  say(`dashboard: ${url}/dashboard#key=${apiKey}`);
  say(`API reference: ${url}/docs (OpenAPI document: ${url}/openapi.json)`);
  say(
    `job types: ${url}/v1/job-types · readiness: ${url}/health/ready · metrics: ${url}/metrics (API), http://127.0.0.1:${workerPort}/metrics (worker)`,
  );
  say('Ctrl-C stops everything');
}

main().catch((error: unknown) => {
  console.error(`conveyor: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
