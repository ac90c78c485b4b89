import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { ConveyorError } from '@conveyor/core/errors';

/**
 * Ranges an outbound request (http.request jobs, completion callbacks) must not reach:
 * loopback, private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT,
 * unspecified, multicast and reserved space, in IPv4 and IPv6.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** Decides which addresses outbound requests may reach. */
export interface AddressGuard {
  /** Throws TARGET_FORBIDDEN unless `address` (an IP) may be reached. */
  assertAllowedAddress(address: string, host: string): void;
  /** A DNS lookup for http.request that refuses forbidden addresses at connect time (no rebinding window). */
  lookup: LookupFunction;
  /** Checks a URL before it is requested: its scheme, and its host when that is an IP literal. */
  assertAllowedUrl(url: URL): void;
}

/**
 * @param allowlist host names, IP addresses or CIDR ranges (`10.1.0.0/16`) that may be reached
 *   even though they are private; from HTTP_ALLOWLIST.
 *
 * @example
 * const guard = createAddressGuard(['127.0.0.1', 'hooks.internal']);
 * http.request(url, { lookup: guard.lookup });
 */
export function createAddressGuard(allowlist: readonly string[] = []): AddressGuard {
  const allowedHosts = new Set<string>();
  const allowed = new BlockList();
  for (const entry of allowlist) {
    const [net, bits] = entry.split('/');
    const family = isIP(net ?? '');
    if (family === 0) allowedHosts.add(entry.toLowerCase());
    else if (bits === undefined) allowed.addAddress(net ?? '', family === 4 ? 'ipv4' : 'ipv6');
    else allowed.addSubnet(net ?? '', Number(bits), family === 4 ? 'ipv4' : 'ipv6');
  }

  function assertAllowedAddress(address: string, host: string): void {
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    // IPv4-mapped IPv6 (::ffff:10.0.0.1) is checked as the IPv4 address it is.
    const mapped = family === 'ipv6' ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined;
    const [ip, type]: [string, 'ipv4' | 'ipv6'] = mapped ? [mapped, 'ipv4'] : [address, family];
    if (allowedHosts.has(host.toLowerCase()) || allowed.check(ip, type)) return;
    if (blocked.check(ip, type)) {
      throw new ConveyorError(
        'TARGET_FORBIDDEN',
        `${host} resolves to ${address}, a private or reserved address; add it to HTTP_ALLOWLIST to allow it`,
      );
    }
  }

  const lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      try {
        for (const a of addresses) assertAllowedAddress(a.address, hostname);
      } catch (refused) {
        return callback(refused as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new Error(`no address for ${hostname}`), '', 0);
      return callback(null, first.address, first.family);
    });
  };

  return {
    assertAllowedAddress,
    lookup,
    assertAllowedUrl(url) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new ConveyorError(
          'TARGET_FORBIDDEN',
          `only http and https URLs may be requested, not ${url.protocol}`,
        );
      }
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0) assertAllowedAddress(host, host);
    },
  };
}
