import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

/** Paths pino replaces with [Redacted]: credentials must never reach a log line. */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'password',
  '*.password',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
];

export interface LoggerInit {
  /** Process name, added to every line as `name`. */
  name: string;
  /** @defaultValue 'info' */
  level?: LoggerOptions['level'];
  /** Where lines go. @defaultValue stdout, written asynchronously (flushed on exit) */
  destination?: DestinationStream;
}

/** The root logger of one process: JSON lines, ISO times, secrets redacted. */
export function createLogger({ name, level = 'info', destination }: LoggerInit): Logger {
  const options: LoggerOptions = {
    name,
    level,
    redact: { paths: redactPaths, censor: '[Redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  // Asynchronous stdout: lines logged while a write is in flight go out together, instead of
  // one blocking write per line (a line per request and per job is a hot path). pino flushes
  // what is pending when the process exits; only a SIGKILL can lose the last lines.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}
