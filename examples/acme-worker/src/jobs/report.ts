import { defineJob, NonRetryableError } from '@conveyor/sdk';
import * as v from 'valibot';
import { stringify } from 'yaml';

/** Renders rows as a YAML report: a job type of this project, with an npm dependency of its own. */
export const report = defineJob({
  name: 'acme.report',
  description: 'Renders a titled list of rows as a YAML document, with their total.',
  queue: 'reports',
  timeoutMs: 10_000,
  attempts: 3,
  input: v.strictObject({
    title: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
    rows: v.pipe(
      v.array(v.strictObject({ name: v.pipe(v.string(), v.minLength(1)), value: v.number() })),
      v.minLength(1),
      v.maxLength(1_000),
    ),
  }),
  run: async ({ title, rows }, { log, progress }) => {
    if (rows.some((row) => !Number.isFinite(row.value)))
      throw new NonRetryableError('every value must be finite');
    const total = rows.reduce((sum, row) => sum + row.value, 0);
    await progress(100);
    log.info({ rows: rows.length }, 'report rendered');
    return { yaml: stringify({ title, total, rows }), total };
  },
});
