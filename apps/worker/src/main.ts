/** The stock worker, `conveyor-worker`: runWorker with the built-in job types. */
import { builtinJobs } from './builtins/index.js';
import { exitWithStartError, runWorker } from './run-worker.js';

runWorker({ jobs: (config) => builtinJobs({ httpAllowlist: config.HTTP_ALLOWLIST }) }).catch(
  exitWithStartError,
);
