import { parseArgs } from 'node:util';
import { apiEnv, loadConfig } from '@conveyor/core/config';
import { createDatabase } from '@conveyor/core/db';
import * as v from 'valibot';
import { createApiKeyStore, generateApiKey, keyName } from '../auth/api-keys.js';
import { isScope, scopes as knownScopes } from '../auth/principal.js';

const USAGE = `usage:
  npm run keys -- generate
      print a fresh random key (for BOOTSTRAP_ADMIN_KEY); stores nothing
  npm run keys -- create --tenant <tenant> --scopes <jobs:read,jobs:write,admin,operator> [--name <name>] [--expires <ISO time>]
      store a key in DATABASE_URL and print it once; whoever holds DATABASE_URL runs the
      deployment, so this may grant operator (pause/resume and depth of the shared queues)
  npm run keys -- list --tenant <tenant>
  npm run keys -- revoke --tenant <tenant> --id <key uuid>`;

function fail(message: string, code = 2): never {
  console.error(`conveyor keys: ${message}\n\n${USAGE}`);
  process.exit(code);
}

/** `npm run keys`: manage API keys straight in Postgres, e.g. to create the first admin key. */
const { positionals, values } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        tenant: { type: 'string' },
        scopes: { type: 'string' },
        name: { type: 'string' },
        expires: { type: 'string' },
        id: { type: 'string' },
      },
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
})();
const command = positionals[0];
if (command === 'generate') {
  console.log(generateApiKey().key);
  process.exit(0);
}
if (command !== 'create' && command !== 'list' && command !== 'revoke')
  fail(`unknown command ${command ?? '(none)'}`);
const tenant = values.tenant ?? fail('--tenant is required');
if (!/^[A-Za-z0-9_.-]{1,64}$/.test(tenant)) fail('--tenant must be 1-64 of A-Z a-z 0-9 _ . -');
const name = values.name ?? 'cli';
if (!v.is(keyName, name)) fail('--name must be 1-100 characters, no control characters');

const { DATABASE_URL } = (() => {
  try {
    return loadConfig(v.pick(apiEnv, ['DATABASE_URL']), process.env);
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error), 1);
  }
})();
const database = createDatabase(DATABASE_URL, { max: 1 });
const keys = createApiKeyStore({ database, cacheTtlMs: 0 });
try {
  if (command === 'create') {
    const scopes = (values.scopes ?? fail('--scopes is required')).split(',').map((s) => s.trim());
    const bad = scopes.filter((s) => !isScope(s));
    if (bad.length > 0) fail(`unknown scopes: ${bad.join(', ')} (known: ${knownScopes.join(', ')})`);
    const expiresAt = values.expires === undefined ? undefined : new Date(values.expires);
    if (expiresAt && Number.isNaN(expiresAt.getTime())) fail('--expires must be an ISO 8601 time');
    const created = await keys.create({
      tenant,
      name,
      scopes: scopes.filter(isScope),
      expiresAt,
    });
    console.log(
      `${created.key}\n(id ${created.id}, tenant ${created.tenant}, scopes ${created.scopes.join(',')}; shown once)`,
    );
  } else if (command === 'list') {
    for (const k of await keys.list(tenant)) {
      console.log(
        `${k.id}  ${k.name}  ${k.scopes.join(',')}  ${k.revokedAt ? `revoked ${k.revokedAt}` : 'active'}`,
      );
    }
  } else {
    const id = values.id ?? fail('--id is required');
    if (!(await keys.revoke(tenant, id))) fail(`no active key ${id} in tenant ${tenant}`, 1);
    console.log(`revoked ${id}`);
  }
} catch (error) {
  console.error(`conveyor keys: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await database.close();
}
