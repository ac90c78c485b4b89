import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import { redactQueryParams } from './redact-query-params.js';

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

/**
 * The root logger of one process: JSON lines, ISO times, secrets redacted: by path, and the
 * bound parameters of a failed query anywhere along a logged error's cause chain.
 */
export function createLogger({ name, level = 'info', destination }: LoggerInit): Logger {
  const options: LoggerOptions = {
    name,
    level,
    redact: { paths: redactPaths, censor: '[Redacted]' },
    serializers: {
      err: (value: unknown) =>
        value instanceof Error ? pino.stdSerializers.err(redactQueryParams(value)) : value,
    },
    hooks: {
      // A line logged without a message takes the error's own message as `msg`, before any
      // serializer runs: the error is made safe here too.
      logMethod(args, method) {
        const [first] = args;
        if (first instanceof Error) {
          args[0] = redactQueryParams(first);
        } else if (
          typeof first === 'object' &&
          first !== null &&
          'err' in first &&
          first.err instanceof Error
        ) {
          const err = redactQueryParams(first.err);
          if (err !== first.err) args[0] = { ...first, err };
        }
        method.apply(this, args);
      },
    },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  // Asynchronous stdout: lines logged while a write is in flight go out together, instead of
  // one blocking write per line (a line per request and per job is a hot path). pino flushes
  // what is pending when the process exits; only a SIGKILL can lose the last lines.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}
