import { exitWithStartError, runWorker } from '@conveyor/worker';
import { jobs } from './jobs/index.js';

// Settings come from the environment: REDIS_URL, DATABASE_URL, WORKER_CONCURRENCY, WORKER_PORT, …
runWorker({ jobs }).catch(exitWithStartError);
