import { createClient } from '@conveyor/client';
import type { jobs } from './jobs/index.js';

const conveyor = createClient<typeof jobs>({
  url: process.env.CONVEYOR_URL ?? 'http://127.0.0.1:3000',
  apiKey: process.env.CONVEYOR_API_KEY,
});

const { id } = await conveyor.submit('acme.report', {
  title: 'Q3',
  rows: [
    { name: 'north', value: 3 },
    { name: 'south', value: 4 },
  ],
});
const job = await conveyor.waitFor(id);
console.log(JSON.stringify({ id, status: job.status, result: job.result }));

/** Never called: the lines the type checker must refuse (`npm run build` fails without them refused). */
export function refusedAtCompileTime() {
  // @ts-expect-error: `rows` must be a list of { name, value }
  void conveyor.submit('acme.report', { title: 'Q3', rows: 'north=3' });
  // @ts-expect-error: no such job type in this project
  void conveyor.submit('acme.unknown', {});
}
