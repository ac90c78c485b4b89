import { isConveyorError } from '@conveyor/core/errors';
import { describe, expect, it } from 'vitest';
import { createAddressGuard } from './address-guard.js';

/** The TARGET_FORBIDDEN message for `run`, or undefined when it passes. */
function refusal(run: () => void): string | undefined {
  try {
    run();
  } catch (error) {
    if (isConveyorError(error, 'TARGET_FORBIDDEN')) return error.message;
    throw error;
  }
  return undefined;
}

const strict = createAddressGuard([]);
const checkUrl = (guard: typeof strict, url: string) => refusal(() => guard.assertAllowedUrl(new URL(url)));

describe('createAddressGuard', () => {
  // [target, words the refusal must contain: the range(s) it is in]
  it.each([
    // The gaps a probe found: IPv4 embedded in IPv6, site-local, discard-only, documentation.
    ['http://[::127.0.0.1]/', ['IPv4-compatible', 'ipv4Compatible', 'embedding 127.0.0.1', 'loopback']],
    ['http://[::a9fe:a9fe]/', ['ipv4Compatible', 'embedding 169.254.169.254', 'linkLocal']],
    ['http://[2002:a9fe:a9fe::]/', ['6to4', 'embedding 169.254.169.254', 'linkLocal']],
    ['http://[2002:0a00:0001::]/', ['6to4', 'embedding 10.0.0.1', 'private']],
    ['http://[64:ff9b:1::a9fe:a9fe]/', ['NAT64', 'rfc6052', 'embedding 169.254.169.254', 'linkLocal']],
    ['http://[64:ff9b::a9fe:a9fe]/', ['rfc6052', 'embedding 169.254.169.254', 'linkLocal']],
    [
      'http://[::ffff:0:a9fe:a9fe]/',
      ['IPv4-translated', 'rfc6145', 'embedding 169.254.169.254', 'linkLocal'],
    ],
    ['http://[::ffff:169.254.169.254]/', ['ipv4Mapped', 'embedding 169.254.169.254', 'linkLocal']],
    ['http://[::ffff:10.0.0.1]/', ['ipv4Mapped', 'embedding 10.0.0.1', 'private']],
    // Teredo: 2001:0:<server>:<flags>:<port>:<client XOR ffff:ffff>.
    ['http://[2001:0:4136:e378:8000:63bf:5601:5601]/', ['Teredo', 'client is 169.254.169.254', 'linkLocal']],
    ['http://[2001:0:7f00:1:8000:63bf:fefe:fefe]/', ['teredo', 'server is 127.0.0.1', 'loopback']],
    ['http://[2001:0:4136:e378:8000:63bf:fefe:fefe]/', ['Teredo address (range teredo)']],
    ['http://[fec0::1]/', ['site-local', 'deprecatedSiteLocal']],
    ['http://[feff:ffff::1]/', ['deprecatedSiteLocal']],
    ['http://[100::1]/', ['discard-only', 'discard']],
    ['http://192.0.2.1/', ['documentation', 'reserved']],
    ['http://198.51.100.7/', ['documentation', 'reserved']],
    ['http://203.0.113.255/', ['documentation', 'reserved']],
    // Refused before this table existed: each of the old ranges, at both ends.
    ['http://127.0.0.1:9/', ['loopback']],
    ['http://127.255.255.255/', ['loopback']],
    ['http://10.0.0.1/', ['private']],
    ['http://10.255.255.255/', ['private']],
    ['http://172.16.5.4/', ['private']],
    ['http://172.31.255.255/', ['private']],
    ['http://192.168.1.1/', ['private']],
    ['http://192.168.255.255/', ['private']],
    ['http://169.254.169.254/latest/meta-data', ['link-local', 'linkLocal']],
    ['http://169.254.0.1/', ['linkLocal']],
    ['http://0.0.0.0/', ['unspecified']],
    ['http://0.255.255.255/', ['unspecified']],
    ['http://100.64.0.0/', ['carrier-grade NAT', 'carrierGradeNat']],
    ['http://100.127.255.255/', ['carrierGradeNat']],
    ['http://192.0.0.8/', ['reserved']],
    ['http://198.18.0.1/', ['reserved']],
    ['http://198.19.255.255/', ['reserved']],
    ['http://224.0.0.1/', ['multicast']],
    ['http://239.255.255.255/', ['multicast']],
    ['http://240.0.0.1/', ['reserved']],
    ['http://255.255.255.255/', ['broadcast']],
    ['http://[::]/', ['unspecified']],
    ['http://[::1]/', ['loopback']],
    ['http://[::ffff:127.0.0.1]/', ['ipv4Mapped', 'embedding 127.0.0.1', 'loopback']],
    ['http://[fc00::1]/', ['unique local', 'uniqueLocal']],
    ['http://[fdff:ffff::1]/', ['uniqueLocal']],
    ['http://[fe80::1]/', ['link-local', 'linkLocal']],
    ['http://[febf::1]/', ['linkLocal']],
    ['http://[ff02::1]/', ['multicast']],
    // NAT64 of a public address was refused before and still is.
    ['http://[64:ff9b::808:808]/', ['NAT64 address (range rfc6052)']],
    // The rest of the IPv6 special-purpose registry, and what lies outside 2000::/3.
    ['http://[2001:db8::1]/', ['reserved']],
    ['http://[2001:2::1]/', ['benchmarking']],
    ['http://[3fff::1]/', ['reserved']],
    ['http://[5f00::1]/', ['segmentRouting']],
    ['http://[100:0:0:1::1]/', ['unallocated', 'outside 2000::/3']],
    ['http://[4000::1]/', ['unallocated', 'outside 2000::/3']],
  ] as [string, string[]][])('refuses %s, naming the address and its range', (url, words) => {
    const message = checkUrl(strict, url);
    expect(message).toBeDefined();
    const address = new URL(url).hostname.replace(/^\[|\]$/g, '');
    expect(message).toContain(`${address} is a`);
    for (const word of words) expect(message).toContain(word);
    expect(message).toContain('HTTP_ALLOWLIST');
  });

  it.each([
    'http://93.184.215.14/',
    'http://1.1.1.1/',
    'https://8.8.8.8/',
    'http://100.128.0.1/',
    'http://172.32.0.1/',
    'http://192.0.3.1/',
    'http://198.20.0.1/',
    'http://[2606:4700::1111]/',
    'http://[2a00:1450:4001:82b::200e]/',
    // IPv4-mapped: a dual-stack socket reaches the IPv4 address itself, which is public.
    'http://[::ffff:93.184.215.14]/',
  ])('allows the global address %s', (url) => {
    expect(checkUrl(strict, url)).toBeUndefined();
  });

  it('says which host name resolved to a refused address', () => {
    expect(refusal(() => strict.assertAllowedAddress('fec0::5', 'hooks.example'))).toMatch(
      /^hooks\.example resolves to fec0::5, a site-local address \(range deprecatedSiteLocal\);/,
    );
  });

  it('reaches an allow-listed address, its IPv4-mapped form, and nothing next to it', () => {
    const guard = createAddressGuard(['127.0.0.1']);
    expect(checkUrl(guard, 'http://127.0.0.1:8080/')).toBeUndefined();
    expect(checkUrl(guard, 'http://[::ffff:127.0.0.1]/')).toBeUndefined();
    expect(checkUrl(guard, 'http://127.0.0.2/')).toContain('loopback');
    expect(checkUrl(guard, 'http://[::127.0.0.1]/')).toContain('ipv4Compatible');
  });

  it('reaches allow-listed CIDR ranges, IPv4 and IPv6 (bracketed or not)', () => {
    const guard = createAddressGuard(['10.1.0.0/16', 'fd00::/8', '[fe80::1]']);
    expect(checkUrl(guard, 'http://10.1.200.3/')).toBeUndefined();
    expect(checkUrl(guard, 'http://10.2.0.1/')).toContain('private');
    expect(checkUrl(guard, 'http://[fd12::1]/')).toBeUndefined();
    expect(checkUrl(guard, 'http://[fc00::1]/')).toContain('uniqueLocal');
    expect(checkUrl(guard, 'http://[fe80::1]/')).toBeUndefined();
    expect(checkUrl(guard, 'http://[fe80::2]/')).toContain('linkLocal');
  });

  it('reaches an allow-listed host name at whatever address it resolves to, and only that name', () => {
    const guard = createAddressGuard(['Hooks.Internal']);
    expect(refusal(() => guard.assertAllowedAddress('10.0.0.5', 'hooks.internal'))).toBeUndefined();
    expect(refusal(() => guard.assertAllowedAddress('10.0.0.5', 'other.internal'))).toContain('private');
  });

  it('checks every address a host name resolves to', async () => {
    const answer = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
      strict.lookup('localhost', { all: true }, (error) => resolve(error)),
    );
    expect(isConveyorError(answer, 'TARGET_FORBIDDEN')).toBe(true);
    expect(answer?.message).toMatch(/^localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
  });
});
