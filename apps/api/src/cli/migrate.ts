import { apiEnv, loadConfig } from '@conveyor/core/config';
import { migrateDatabase } from '@conveyor/core/db';
import * as v from 'valibot';

/** `npm run db:migrate` and the image's `migrate` command: applies pending migrations, then exits. */
try {
  const { DATABASE_URL } = loadConfig(v.pick(apiEnv, ['DATABASE_URL']), process.env);
  await migrateDatabase(DATABASE_URL);
  console.log('conveyor: database migrated');
} catch (error) {
  console.error(`conveyor migrate: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
