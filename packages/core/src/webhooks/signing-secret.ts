import { eq } from 'drizzle-orm';
import type { Db } from '../db/connect.js';
import { signingSecrets } from '../db/schema.js';
import { generateSecret } from './signature.js';

/**
 * The tenant's signing secret for deliveries to jobs' own `callbackUrl`, made on first use.
 * Concurrent first uses agree: the first insert wins and everyone reads it back.
 */
export async function tenantSigningSecret(db: Db, tenant: string): Promise<string> {
  const [known] = await db.select().from(signingSecrets).where(eq(signingSecrets.tenant, tenant));
  if (known) return known.secret;
  await db.insert(signingSecrets).values({ tenant, secret: generateSecret() }).onConflictDoNothing();
  const [row] = await db.select().from(signingSecrets).where(eq(signingSecrets.tenant, tenant));
  if (!row) throw new Error(`no signing secret for tenant ${tenant}`);
  return row.secret;
}

/** Replaces the tenant's signing secret; deliveries signed from now on use the new one. */
export async function rotateTenantSigningSecret(db: Db, tenant: string): Promise<string> {
  const secret = generateSecret();
  await db
    .insert(signingSecrets)
    .values({ tenant, secret })
    .onConflictDoUpdate({ target: signingSecrets.tenant, set: { secret, createdAt: new Date() } });
  return secret;
}
