import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSecret, signatureHeader, verifySignature } from './signature.js';

describe('delivery signatures', () => {
  const secret = generateSecret();
  const body = JSON.stringify({ jobId: 'x', status: 'completed' });
  const now = 1_795_600_000_000;
  const t = now / 1_000;

  it('signs "<t>.<body>" with HMAC-SHA256 in hex', () => {
    const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    expect(signatureHeader(secret, body, t)).toBe(`t=${t},v1=${expected}`);
  });

  it('verifies a good signature and refuses a changed body, another secret or an old timestamp', () => {
    const header = signatureHeader(secret, body, t);
    expect(verifySignature(secret, header, body, { now })).toBe(true);
    expect(verifySignature(secret, header, `${body} `, { now })).toBe(false);
    expect(verifySignature(generateSecret(), header, body, { now })).toBe(false);
    expect(verifySignature(secret, header, body, { now: now + 301_000 })).toBe(false);
    expect(verifySignature(secret, 'garbage', body, { now })).toBe(false);
  });

  it('makes distinct 256-bit secrets', () => {
    const a = generateSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(generateSecret()).not.toBe(a);
  });
});
