import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, waitForStatus } from './harness.js';

const services = useTestServices();
let p: Pipeline;
const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);

beforeAll(async () => {
  p = await createPipeline(services);
  p.startWorker({ concurrency: 32 });
  process.on('warning', onWarning);
});
afterAll(async () => {
  process.off('warning', onWarning);
  await p.close();
});

describe('a worker with every slot busy', () => {
  it('runs 32 attempts at once without tripping Node’s listener-leak warning', async () => {
    const response = await postJson(p, '/v1/jobs/batch', {
      jobs: Array.from({ length: 64 }, () => ({ type: 'sleep', data: { ms: 300 } })),
    });
    expect(response.status).toBe(202);
    const { items } = (await response.json()) as { items: { id: string }[] };
    for (const { id } of items) await waitForStatus((path) => p.request(path), id, ['completed']);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});
