import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { apiEnv, workerEnv } from '@conveyor/core/config';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { hasTool } from '../tools.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');
const chart = 'charts/conveyor';

/** Every variable the config parser reads. */
const known = new Set([...Object.keys(apiEnv.entries), ...Object.keys(workerEnv.entries)]);
/** Variables with no safe production default: every deployment must set them. */
const required = ['REDIS_URL', 'DATABASE_URL'];

type Compose = {
  services: Record<
    string,
    { environment?: Record<string, string>; command?: string[]; stop_grace_period?: string }
  >;
};

describe('deployment files parse', () => {
  it('docker-compose.yml, Chart.yaml, values.yaml and values.schema.json are valid', () => {
    const compose = parse(read('docker-compose.yml')) as Compose;
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'migrate', 'postgres', 'redis', 'worker']);
    expect(parse(read(`${chart}/Chart.yaml`))).toMatchObject({ apiVersion: 'v2', name: 'conveyor' });
    expect(parse(read(`${chart}/values.yaml`))).toHaveProperty('workers');
    expect(() => JSON.parse(read(`${chart}/values.schema.json`))).not.toThrow();
  });

  it('values.yaml satisfies values.schema.json, and the schema rejects bad values', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(read(`${chart}/values.schema.json`)));
    const values = parse(read(`${chart}/values.yaml`)) as Record<string, unknown>;
    expect(validate(values), JSON.stringify(validate.errors)).toBe(true);
    const bad = structuredClone(values) as {
      api: { replicas: unknown };
      workers: { name: string }[];
      secrets: { redisUrl: string };
    };
    bad.api.replicas = 'two';
    expect(validate(bad)).toBe(false);
    const badName = structuredClone(values) as { workers: { name: string }[] };
    if (badName.workers[0]) badName.workers[0].name = 'Bad Name';
    expect(validate(badName)).toBe(false);
    const badUrl = structuredClone(values) as { secrets: { redisUrl: string } };
    badUrl.secrets.redisUrl = 'http://redis';
    expect(validate(badUrl)).toBe(false);
    expect(validate({ ...values, unknownSetting: 1 })).toBe(false);
  });

  it.skipIf(!hasTool('yamllint'))('passes yamllint (CI installs and requires it)', () => {
    const run = spawnSync(
      'yamllint',
      [
        '-c',
        `${root}.yamllint.yml`,
        'docker-compose.yml',
        `${chart}/Chart.yaml`,
        `${chart}/values.yaml`,
        'examples/acme-worker/deploy/compose.yaml',
        'examples/acme-worker/deploy/helm-values.yaml',
      ],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});

describe("a team's own worker deploys next to the stock API", () => {
  const example = 'examples/acme-worker';

  it("the example's Helm values (a worker group with its own image) satisfy the chart's schema", () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(read(`${chart}/values.schema.json`)));
    const values = parse(read(`${chart}/values.yaml`)) as Record<string, unknown>;
    const overlay = parse(read(`${example}/deploy/helm-values.yaml`)) as {
      workers: { name: string; image?: { repository: string; tag?: string }; queues?: string[] }[];
    };
    // Helm merges maps and replaces lists.
    const merged = { ...values, ...overlay };
    expect(validate(merged), JSON.stringify(validate.errors)).toBe(true);
    const team = overlay.workers.find((w) => w.image);
    expect(team).toMatchObject({ name: 'acme', queues: ['reports'] });
    // Its queue is the one the example's job type declares.
    expect(read(`${example}/src/jobs/report.ts`)).toContain("queue: 'reports'");
    const untagged = structuredClone(merged) as typeof overlay;
    delete untagged.workers[1]?.image?.tag;
    expect(validate(untagged)).toBe(false);
  });

  it("the chart runs a group's own image with its own CMD, and Conveyor's image as `worker`", () => {
    const template = read(`${chart}/templates/worker-deployments.yaml`);
    expect(template).toContain('{{- if .image }}');
    expect(template).toContain('image: {{ .image.repository }}:{{ .image.tag }}');
    expect(template).toContain('args: {{ toJson (.args | default (list "worker")) }}');
    // With an own image, args only when the group sets them: the image's CMD runs the worker.
    const own = template.slice(template.indexOf('{{- if .image }}'), template.indexOf('{{- else }}'));
    expect(own).toContain('{{- with .args }}');
    expect(own).not.toContain('list "worker"');
    expect(read(`${example}/Dockerfile`)).toMatch(
      /^CMD \["node", "--enable-source-maps", "dist\/worker\.js"\]$/m,
    );
  });

  it("the example's compose file adds only its worker, with known variables, the stack's services and a drain before SIGKILL", () => {
    const base = parse(read('docker-compose.yml'), { merge: true }) as Compose;
    const extra = parse(read(`${example}/deploy/compose.yaml`)) as {
      services: Record<
        string,
        Compose['services'][string] & { build?: string; depends_on?: Record<string, unknown> }
      >;
    };
    expect(Object.keys(extra.services)).toEqual(['acme-worker']);
    const service = extra.services['acme-worker'];
    const env = service?.environment ?? {};
    for (const key of Object.keys(env)) expect(known, key).toContain(key);
    for (const key of required) expect(env).toHaveProperty(key);
    // The same Redis, Postgres and prefix as the stock services.
    for (const key of ['REDIS_URL', 'DATABASE_URL', 'QUEUE_PREFIX'])
      expect(env[key], key).toBe(base.services.worker?.environment?.[key]);
    expect(env.WORKER_QUEUES).toBe('reports');
    for (const dependency of Object.keys(service?.depends_on ?? {}))
      expect(base.services).toHaveProperty(dependency);
    expect(Number.parseInt(service?.stop_grace_period ?? '0', 10) * 1_000).toBeGreaterThan(
      Number(env.SHUTDOWN_GRACE_MS),
    );
    // Paths of a second -f file resolve from the first file's folder: the repository root.
    expect(service?.build).toBe(example);
    expect(readdirSync(`${root}${service?.build}`)).toContain('Dockerfile');
  });
});

describe('environment variables agree with the config parser', () => {
  it('.env.example documents every variable the parser reads, and nothing else', () => {
    const names = [...read('.env.example').matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
    expect(new Set(names)).toEqual(known);
  });

  it('compose sets only known variables, and the required ones for every Conveyor service', () => {
    const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
    for (const name of ['migrate', 'api', 'worker']) {
      const env = compose.services[name]?.environment ?? {};
      for (const key of Object.keys(env)) expect(known, `${name}: ${key}`).toContain(key);
      for (const key of required) expect(env, `${name} lacks ${key}`).toHaveProperty(key);
    }
  });

  it('the chart sets only known variables, and the required ones', () => {
    const values = parse(read(`${chart}/values.yaml`)) as {
      config: Record<string, string>;
      api: { env: Record<string, string> };
      workers: { env?: Record<string, string> }[];
    };
    const templates = readdirSync(`${root}${chart}/templates`).map((f) => read(`${chart}/templates/${f}`));
    // Names the templates set: `- name: X` in env lists and `X: …` keys of the Secret.
    const fromTemplates = templates.flatMap((t) => [
      ...[...t.matchAll(/- name: ([A-Z][A-Z0-9_]*)\b/g)].map((m) => m[1]),
      ...[...t.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]),
    ]);
    const fromValues = [
      ...Object.keys(values.config),
      ...Object.keys(values.api.env),
      ...values.workers.flatMap((w) => Object.keys(w.env ?? {})),
    ];
    const all = [...fromTemplates, ...fromValues];
    expect(all.length).toBeGreaterThan(6);
    for (const name of all) expect(known, name).toContain(name);
    const secret = read(`${chart}/templates/secret.yaml`);
    for (const key of required) expect(secret).toContain(`${key}:`);
  });
});

describe('shutdown timing agrees everywhere', () => {
  it('compose and the chart give a worker longer than its drain before SIGKILL', () => {
    const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
    const worker = compose.services.worker;
    const graceMs = Number(worker?.environment?.SHUTDOWN_GRACE_MS);
    expect(Number.parseInt(worker?.stop_grace_period ?? '0', 10) * 1_000).toBeGreaterThan(graceMs);

    const values = parse(read(`${chart}/values.yaml`)) as {
      worker: { shutdownGraceSeconds: number; preStopSleepSeconds: number };
    };
    const template = read(`${chart}/templates/worker-deployments.yaml`);
    const margin = Number(
      /terminationGracePeriodSeconds: \{\{ add \$root\.Values\.worker\.preStopSleepSeconds \$root\.Values\.worker\.shutdownGraceSeconds (\d+) \}\}/.exec(
        template,
      )?.[1],
    );
    // terminationGracePeriodSeconds = preStop + drain + margin: SIGKILL only after the drain.
    expect(margin).toBeGreaterThanOrEqual(5);
    expect(template).toContain('value: {{ mul $root.Values.worker.shutdownGraceSeconds 1000 | quote }}');
    expect(values.worker.shutdownGraceSeconds).toBeGreaterThan(0);
  });

  it('the image runs built JavaScript under tini as a non-root user', () => {
    const dockerfile = read('Dockerfile');
    const entrypoint = read('docker/entrypoint.sh');
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toContain('ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/conveyor"]');
    expect(dockerfile).toContain('npm ci --omit=dev');
    expect(entrypoint).toContain('exec node --enable-source-maps apps/api/dist/main.js');
    expect(entrypoint).toContain('exec node --enable-source-maps apps/worker/dist/main.js');
    expect(entrypoint).toContain('exec node --enable-source-maps apps/api/dist/cli/migrate.js');
    expect(entrypoint).not.toMatch(/tsx/);
  });
});
