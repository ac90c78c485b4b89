import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  ConveyorApiError,
  type ConveyorClient,
  createClient,
  type FlowNode,
  type FlowView,
  type QueueInfo,
  type SubmitOptions,
} from '@conveyor/client';
import type { JobStatus, JobView } from '@conveyor/core/jobs';
import { isTerminalStatus } from '@conveyor/core/status';

export const USAGE = `usage: conveyor <command> [options]

commands:
  submit <type> [data]     submit a job; data is JSON, or read from stdin when omitted or "-"
      --id <uuid> --idempotency-key <key> --priority <n> --delay-ms <n> --run-at <iso>
      --attempts <n> --timeout-ms <n> --wait (follow it to the end)
  get <id>                 show a job
  watch <id>               follow a job live until it ends
  cancel <id>              cancel a queued, delayed or running job
  retry <id>               run a failed, cancelled or expired job again
  retry --status <s[,s]> --type <t> --queue <q> --tag <t> --metadata <k=v> [--dry-run]
                           retry every failed, cancelled or expired job they match
  cancel --status <s[,s]> --type <t> --queue <q> --tag <t> --metadata <k=v> [--dry-run]
                           cancel every queued or running job they match
  list                     list jobs  --status <s[,s]> --type <t> --queue <q> --tag <t[,t]>
                           --metadata <key=value> (repeatable) --limit <n> --cursor <c>
  queues                   queue depth per state
  flow submit <file.json>  submit a flow (a tree of jobs: the root job with its children) from a
                           JSON file, or stdin for "-"; prints the flow as JSON
      --idempotency-key <key> --wait (print the flow again, as JSON, once its root has ended)
  flow get <id>            show a flow: every node's status, root first (JSON)
  flow cancel <id>         cancel every node of a flow that has not ended (JSON)
  flow retry <id>          run an ended flow's failed, cancelled and expired nodes again (JSON)
  keys create --name <n> --scopes <s[,s]> [--expires <iso>] | keys list | keys revoke <id>
  dev <worker file>        run your worker (.ts or .js) against a local Conveyor: Redis, Postgres
                           (unless REDIS_URL / DATABASE_URL are set), the stock API on PORT (3000),
                           the worker restarted when its files change (needs @conveyor/dev)

options:
  --url <url>              API base URL (CONVEYOR_URL; default http://127.0.0.1:3000)
  --api-key <key>          API key (CONVEYOR_API_KEY)
  --json                   print JSON, for scripts

exit codes: 0 success · 1 the job (a flow's root) failed, was cancelled or expired, or the API
refused · 2 bad usage`;

export class UsageError extends Error {}

/** Where the CLI writes, and what it reads: injected so tests and main.ts differ only here. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  readStdin(): Promise<string>;
  env: Readonly<Record<string, string | undefined>>;
}

const options = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  id: { type: 'string' },
  'idempotency-key': { type: 'string' },
  priority: { type: 'string' },
  'delay-ms': { type: 'string' },
  'run-at': { type: 'string' },
  attempts: { type: 'string' },
  'timeout-ms': { type: 'string' },
  wait: { type: 'boolean' },
  status: { type: 'string' },
  type: { type: 'string' },
  queue: { type: 'string' },
  tag: { type: 'string' },
  metadata: { type: 'string', multiple: true },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  name: { type: 'string' },
  scopes: { type: 'string' },
  expires: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `--metadata key=value` (repeatable) as the list's metadata filters. */
function metadataFilters(pairs: readonly string[]): Record<string, string> {
  const filters: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at < 1) throw new UsageError(`--metadata takes key=value (got "${pair}")`);
    filters[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return filters;
}

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number`);
  return Number(value);
}

function describe(job: JobView): string {
  const outcome =
    job.status === 'completed'
      ? ` result ${JSON.stringify(job.result)}`
      : job.error
        ? ` error ${job.error.code}: ${job.error.message}`
        : '';
  return `${job.id}  ${job.type}  ${job.status}  attempt ${job.attempts}/${job.maxAttempts}${outcome}`;
}

const failed = (status: JobStatus) => status === 'failed' || status === 'cancelled' || status === 'expired';

async function follow(client: ConveyorClient, id: string, io: CliIo, json: boolean): Promise<number> {
  let status: JobStatus = 'queued';
  for await (const item of client.watch(id)) {
    if (item.kind === 'snapshot') {
      status = item.job.status;
      io.out(json ? JSON.stringify(item) : describe(item.job));
    } else {
      const e = item.event;
      status = e.status;
      const detail =
        e.progress !== undefined
          ? ` progress ${JSON.stringify(e.progress)}`
          : e.error
            ? ` error ${e.error.code}: ${e.error.message}`
            : '';
      io.out(
        json ? JSON.stringify(item) : `${e.ts.slice(11, 23)}  ${e.status}  attempt ${e.attempt}${detail}`,
      );
    }
  }
  if (isTerminalStatus(status)) {
    const job = await client.get(id);
    if (!json && job.status === 'completed') io.out(`result ${JSON.stringify(job.result)}`);
    return failed(job.status) ? 1 : 0;
  }
  return 1;
}

/** The flow tree in `file` (`-`: stdin), parsed; a UsageError naming the file and what was wrong. */
async function readFlow(file: string, io: CliIo): Promise<FlowNode> {
  let text: string;
  if (file === '-') text = await io.readStdin();
  else {
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const reason =
        (error as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'no such file'
          : error instanceof Error
            ? error.message
            : String(error);
      throw new UsageError(`cannot read flow file ${file}: ${reason}`);
    }
  }
  const from = file === '-' ? 'the flow on stdin' : `flow file ${file}`;
  if (text.trim() === '')
    throw new UsageError(`${from} is empty: it must be the root job as JSON, with its children`);
  try {
    return JSON.parse(text) as FlowNode;
  } catch (error) {
    throw new UsageError(`${from} is not valid JSON (${error instanceof Error ? error.message : error})`);
  }
}

/** `conveyor flow <sub> …`: submit, get, cancel or retry a flow; prints FlowView JSON lines. */
async function flowCommand(
  client: ConveyorClient,
  args: string[],
  values: { wait?: boolean | undefined; 'idempotency-key'?: string | undefined },
  io: CliIo,
): Promise<number> {
  const [sub, ...rest] = args;
  const print = (flow: FlowView) => io.out(JSON.stringify(flow));
  const target = (what: string) => {
    const value = rest[0];
    if (value === undefined || rest.length > 1) throw new UsageError(`flow ${sub} takes exactly one ${what}`);
    return value;
  };
  switch (sub) {
    case 'submit': {
      const root = await readFlow(target('JSON file (or - for stdin)'), io);
      const key = values['idempotency-key'];
      const flow = await client.submitFlow(root, key ? { idempotencyKey: key } : {});
      print(flow);
      if (!values.wait) return 0;
      const ended = await client.waitForFlow(flow.id);
      print(ended);
      return ended.status === 'completed' ? 0 : 1;
    }
    case 'get':
      print(await client.getFlow(target('flow id')));
      return 0;
    case 'cancel':
      print(await client.cancelFlow(target('flow id')));
      return 0;
    case 'retry':
      print(await client.retryFlow(target('flow id')));
      return 0;
    default:
      throw new UsageError(
        `${sub === undefined ? 'flow needs a subcommand' : `unknown flow subcommand "${sub}"`}: flow takes submit <file.json>, get <id>, cancel <id> or retry <id>`,
      );
  }
}

/** Runs one CLI invocation; resolves with the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
    try {
      parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const { values, positionals } = parsed;
    const [command, ...args] = positionals;
    if (values.help || command === undefined || command === 'help') {
      io.out(USAGE);
      return command === undefined && !values.help ? 2 : 0;
    }
    const json = values.json === true;
    const url = values.url ?? io.env.CONVEYOR_URL ?? 'http://127.0.0.1:3000';
    if (!/^https?:\/\//.test(url)) throw new UsageError('--url must start with http:// or https://');
    const apiKey = values['api-key'] ?? io.env.CONVEYOR_API_KEY;
    const client = createClient({ url, ...(apiKey ? { apiKey } : {}) });
    const one = (what: string) => {
      const value = args[0];
      if (value === undefined || args.length > 1)
        throw new UsageError(`${command} takes exactly one ${what}`);
      return value;
    };
    /** --type, --queue, --tag and --metadata, as a bulk action's filters. */
    const jobFilters = () => ({
      ...(values.type ? { type: values.type } : {}),
      ...(values.queue ? { queue: values.queue } : {}),
      ...(values.tag ? { tag: values.tag.split(',') } : {}),
      ...(values.metadata ? { metadata: metadataFilters(values.metadata) } : {}),
    });
    const print = (job: JobView) => io.out(json ? JSON.stringify(job) : describe(job));

    switch (command) {
      case 'submit': {
        const [type, rawData] = args;
        if (type === undefined || args.length > 2)
          throw new UsageError('submit takes a type and optionally JSON data');
        const text = rawData === undefined || rawData === '-' ? await io.readStdin() : rawData;
        let data: unknown;
        try {
          data = text.trim() === '' ? undefined : JSON.parse(text);
        } catch {
          throw new UsageError('data must be JSON (as an argument, or on stdin)');
        }
        const submitOptions: SubmitOptions = {};
        if (values.id) submitOptions.id = values.id;
        if (values['idempotency-key']) submitOptions.idempotencyKey = values['idempotency-key'];
        const priority = integer('priority', values.priority);
        if (priority !== undefined) submitOptions.priority = priority;
        const delayMs = integer('delay-ms', values['delay-ms']);
        if (delayMs !== undefined) submitOptions.delayMs = delayMs;
        if (values['run-at']) submitOptions.runAt = values['run-at'];
        const attempts = integer('attempts', values.attempts);
        if (attempts !== undefined) submitOptions.attempts = attempts;
        const timeoutMs = integer('timeout-ms', values['timeout-ms']);
        if (timeoutMs !== undefined) submitOptions.timeoutMs = timeoutMs;
        const job = await client.submitUntyped(type, data, submitOptions);
        io.out(json ? JSON.stringify(job) : `${job.id}  ${job.type}  ${job.status}`);
        return values.wait ? follow(client, job.id, io, json) : 0;
      }
      case 'get':
        print(await client.get(one('job id')));
        return 0;
      case 'watch':
        return follow(client, one('job id'), io, json);
      case 'cancel': {
        if (args.length > 0) {
          print(await client.cancel(one('job id')));
          return 0;
        }
        // No id: every queued or running job the filters match, 1,000 a request.
        const filter = {
          ...(values.status ? { status: values.status.split(',') as ('queued' | 'active')[] } : {}),
          ...jobFilters(),
        };
        if (Object.keys(filter).length === 0) {
          throw new UsageError(
            'cancel takes a job id, or filters (--status, --type, --queue, --tag, --metadata)',
          );
        }
        if (values['dry-run']) {
          const { matched } = await client.cancelMatching({ ...filter, dryRun: true });
          io.out(json ? JSON.stringify({ matched }) : `${matched} jobs match`);
          return 0;
        }
        let cancelled = 0;
        for (let more = true; more; ) {
          const answer = await client.cancelMatching(filter);
          cancelled += answer.cancelled;
          more = answer.more && answer.cancelled > 0;
        }
        io.out(json ? JSON.stringify({ cancelled }) : `cancelled ${cancelled} jobs`);
        return 0;
      }
      case 'retry': {
        if (args.length > 0) {
          print(await client.retry(one('job id')));
          return 0;
        }
        // No id: every failed, cancelled or expired job the filters match, 1,000 a request.
        const filter = {
          ...(values.status
            ? { status: values.status.split(',') as ('failed' | 'cancelled' | 'expired')[] }
            : {}),
          ...jobFilters(),
        };
        if (Object.keys(filter).length === 0) {
          throw new UsageError(
            'retry takes a job id, or filters (--status, --type, --queue, --tag, --metadata)',
          );
        }
        if (values['dry-run']) {
          const { matched } = await client.retryMatching({ ...filter, dryRun: true });
          io.out(json ? JSON.stringify({ matched }) : `${matched} jobs match`);
          return 0;
        }
        let cursor: string | null = null;
        let retried = 0;
        let skipped = 0;
        do {
          const answer = await client.retryMatching({ ...filter, ...(cursor ? { cursor } : {}) });
          retried += answer.retried;
          skipped += answer.skipped.length;
          for (const s of answer.skipped) io.err(`skipped ${s.id}: ${s.reason}`);
          cursor = answer.nextCursor;
        } while (cursor !== null);
        io.out(json ? JSON.stringify({ retried, skipped }) : `retried ${retried} jobs, skipped ${skipped}`);
        return 0;
      }
      case 'list': {
        const limit = integer('limit', values.limit);
        const page = await client.list({
          ...(values.status ? { status: values.status.split(',') as JobStatus[] } : {}),
          ...(values.type ? { type: values.type } : {}),
          ...(values.queue ? { queue: values.queue } : {}),
          ...(values.tag ? { tag: values.tag.split(',') } : {}),
          ...(values.metadata ? { metadata: metadataFilters(values.metadata) } : {}),
          ...(limit === undefined ? {} : { limit }),
          ...(values.cursor ? { cursor: values.cursor } : {}),
        });
        if (json) io.out(JSON.stringify(page));
        else {
          if (page.items.length === 0) io.out('no jobs match');
          for (const job of page.items) print(job);
          if (page.nextCursor) io.out(`more: --cursor ${page.nextCursor}`);
        }
        return 0;
      }
      case 'queues': {
        const { items } = await client.queues();
        if (json) io.out(JSON.stringify(items));
        else
          for (const q of items)
            io.out(
              `${q.name}${q.paused ? ' (paused)' : ''}  ${
                q.counts
                  ? Object.entries(q.counts)
                      .map(([k, n]) => `${k} ${n}`)
                      .join('  ')
                  : '(depth needs the operator scope)'
              }${limitsText(q)}`,
            );
        return 0;
      }
      case 'flow':
        return await flowCommand(client, args, values, io);
      case 'keys': {
        const [sub, id] = args;
        if (sub === 'create') {
          if (!values.name || !values.scopes) throw new UsageError('keys create needs --name and --scopes');
          const created = await client.keys.create(values.name, values.scopes.split(','), values.expires);
          io.out(json ? JSON.stringify(created) : `${created.key}\n(id ${created.id}; shown once)`);
          return 0;
        }
        if (sub === 'list') {
          const { items } = await client.keys.list();
          for (const k of items)
            io.out(
              json
                ? JSON.stringify(k)
                : `${k.id}  ${k.name}  ${k.scopes.join(',')}${k.revokedAt ? '  revoked' : ''}`,
            );
          return 0;
        }
        if (sub === 'revoke' && id) {
          await client.keys.revoke(id);
          io.out(`revoked ${id}`);
          return 0;
        }
        throw new UsageError('keys takes create, list or revoke <id>');
      }
      case 'dev': {
        const workerFile = one('worker file');
        let dev: typeof import('@conveyor/dev');
        try {
          dev = await import('@conveyor/dev');
        } catch {
          throw new UsageError('dev needs @conveyor/dev beside @conveyor/cli: npm install -D @conveyor/dev');
        }
        const session = await dev.runDev({ workerFile, cwd: process.cwd(), env: io.env, log: io.out });
        const stop = () => void session.stop();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        return await session.done;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`conveyor: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof ConveyorApiError) {
      io.err(`conveyor: ${error.status} ${error.code}: ${error.message}`);
      return 1;
    }
    io.err(
      `conveyor: ${error instanceof Error ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message) : String(error)}`,
    );
    return 1;
  }
}

/** A queue's limits and what they hold back, for `conveyor queues`: "" when it has none. */
function limitsText({ limits, held }: QueueInfo): string {
  const parts = [
    ...(limits.rateLimit ? [`${limits.rateLimit.max} per ${limits.rateLimit.durationMs} ms`] : []),
    ...(limits.concurrency !== null ? [`${limits.concurrency} at once`] : []),
  ];
  if (parts.length === 0) return '';
  const holding = held && held.jobs > 0 ? `  held ${held.jobs} (${held.by.join(', ')})` : '';
  return `  limits ${parts.join(', ')}${holding}`;
}
