import { report } from './report.js';

/** Every job type this project runs: its worker registers them, its client is typed by them. */
export const jobs = [report] as const;
