import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { onProcessExit } from '@conveyor/dev';
import type { AppProcess } from '../processes.js';

/** Starts `sh <entrypoint> <command>` the way the image's ENTRYPOINT does. */
export function spawnApp(entrypoint: string, command: string, env: Record<string, string>): AppProcess {
  const child = spawn('sh', [entrypoint, command], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const removeHook = onProcessExit(() => child.kill('SIGKILL'));
  const exited = once(child, 'exit').then(([code, signal]) => {
    removeHook();
    return (code ?? signal) as number | string;
  });
  return { child, output: () => output, exited };
}
