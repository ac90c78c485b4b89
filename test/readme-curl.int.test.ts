import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { webhookDeliveries } from '@conveyor/core/db';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, type ServedApp, serveOnFreePort } from './harness.js';

// Issue 16: the README's curl examples run as written (headers included) against a served API.

const services = useTestServices();
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
let p: Pipeline;
let served: ServedApp;
let base: string;

beforeAll(async () => {
  p = await createPipeline(services);
  served = await serveOnFreePort(p.app);
  base = served.url;
});
afterAll(async () => {
  await served.close();
  await p.close();
});

/** A delivery of webhook `webhookId` recorded as given up, as a worker records one. */
async function failedDelivery(webhookId: string, jobId: string | undefined): Promise<string> {
  if (!jobId) throw new Error('no job id');
  const id = randomUUID();
  const event = {
    jobId,
    tenant: 'default',
    type: 'noop',
    queue: 'default',
    status: 'failed',
    attempt: 1,
    ts: new Date().toISOString(),
  };
  await p.database.db.insert(webhookDeliveries).values({
    id,
    tenant: 'default',
    webhookId,
    jobId,
    url: 'https://example.com/conveyor',
    event,
    status: 'failed',
    attempts: 8,
    lastError: 'answered 503',
  });
  return id;
}

/** The README's sh blocks that set up `H` (the headers) and then call the API with it. */
const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
  .map((m) => m[1] ?? '')
  .filter((block) => block.startsWith('H=('));

/** A block's commands: continuation lines joined, comments and blank lines dropped. */
function commands(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

describe("the README's curl examples", () => {
  it('are found: the schedules, flows and webhooks blocks', () => {
    const named = (b: string) =>
      b.includes('/v1/schedules') ? 'schedules' : b.includes('/v1/flows') ? 'flows' : 'webhooks';
    expect(blocks.map(named)).toEqual(['schedules', 'flows', 'webhooks']);
  });

  it.each(blocks.map((b, i) => [i, b] as const))(
    'block %i answers 2xx to every command as written',
    async (_, block) => {
      const submitted = await postJson(p, '/v1/jobs', { type: 'noop' });
      const vars: Record<string, string> = { job: ((await submitted.json()) as { id: string }).id };
      let preamble = '';
      for (const command of commands(block)) {
        if (command.startsWith('H=(')) {
          preamble = command;
          continue;
        }
        const assignment = /^(\w+)=\S+/.exec(command);
        if (assignment?.[1] === 'delivery' && vars.id)
          vars.delivery = await failedDelivery(vars.id, vars.job);
        if (assignment?.[1]) {
          // "id=5d0e…   # from the answer above": the test knows the real one.
          expect(vars[assignment[1]], `${assignment[1]} set before "${command}"`).toBeDefined();
          continue;
        }
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the bash array expansion the README writes
        expect(command.startsWith('curl -s "${H[@]}" '), command).toBe(true);
        const runnable = command
          .replace('curl -s ', `curl -s -w '\\n%{http_code}' `)
          .replaceAll('http://127.0.0.1:3000', base)
          .replace(/\s+#.*$/, '');
        // Not spawnSync: the API answering curl runs in this process.
        const run = await promisify(execFile)('bash', ['-c', `${preamble}\n${runnable}`], {
          encoding: 'utf8',
          env: { ...process.env, CONVEYOR_KEY: p.apiKey, ...vars },
        });
        const lines = run.stdout.trimEnd().split('\n');
        const status = Number(lines.at(-1));
        const body = lines.slice(0, -1).join('\n');
        expect(status, `${command}\n${body}${run.stderr}`).toBeGreaterThanOrEqual(200);
        expect(status, `${command}\n${body}${run.stderr}`).toBeLessThan(300);
        if (/-X POST \S+\/v1\/(schedules|webhooks|flows) /.test(command) && vars.id === undefined)
          vars.id = (JSON.parse(body) as { id: string }).id;
      }
      expect(vars.id).toBeDefined();
    },
  );
});
