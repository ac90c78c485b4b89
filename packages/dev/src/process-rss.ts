import { readFile } from 'node:fs/promises';

/** Resident memory of a process in MB, now (VmRSS) or at its peak (VmHWM); 0 once it is gone. Linux only. */
export async function processRssMb(
  pid: number | undefined,
  field: 'VmRSS' | 'VmHWM' = 'VmRSS',
): Promise<number> {
  if (!pid) return 0;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024);
}
