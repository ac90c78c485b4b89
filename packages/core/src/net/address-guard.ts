import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ConveyorError } from '../errors/index.js';
import { whyNotGlobal } from './why-not-global.js';

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
 * Outbound requests (http.request jobs, webhook deliveries) may reach only
 * globally reachable addresses, as `whyNotGlobal` decides from ipaddr.js's range table:
 * never loopback, private, link-local (cloud metadata at 169.254.169.254), carrier-grade
 * NAT, unspecified, multicast, broadcast, documentation, site-local, discard-only or other
 * reserved space, nor an IPv6 address that embeds such an IPv4 address.
 *
 * @param allowlist host names, IP addresses or CIDR ranges (`10.1.0.0/16`) that may be reached
 *   even though they are not global; from HTTP_ALLOWLIST. An IPv4 entry also covers the
 *   IPv4-mapped form (::ffff:a.b.c.d) of its addresses.
 *
 * @example
 * const guard = createAddressGuard(['127.0.0.1', 'hooks.internal']);
 * http.request(url, { lookup: guard.lookup });
 */
export function createAddressGuard(allowlist: readonly string[] = []): AddressGuard {
  const allowedHosts = new Set<string>();
  const allowedRanges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  for (const entry of allowlist) {
    const [net = '', bits] = entry.replace(/^\[|\](?=\/|$)/g, '').split('/');
    if (isIP(net) === 0) allowedHosts.add(entry.toLowerCase());
    else allowedRanges.push(ipaddr.parseCIDR(`${net}/${bits ?? (isIP(net) === 4 ? 32 : 128)}`));
  }

  function isAllowListed(address: string, host: string): boolean {
    if (allowedHosts.has(host.toLowerCase())) return true;
    const ip = ipaddr.parse(address);
    const forms = ip instanceof ipaddr.IPv6 && ip.isIPv4MappedAddress() ? [ip, ip.toIPv4Address()] : [ip];
    return forms.some((form) =>
      allowedRanges.some((range) => form.kind() === range[0].kind() && form.match(range)),
    );
  }

  function assertAllowedAddress(address: string, host: string): void {
    const reason = whyNotGlobal(address);
    if (reason === undefined || isAllowListed(address, host)) return;
    const target = host === address ? `${address} is` : `${host} resolves to ${address},`;
    throw new ConveyorError(
      'TARGET_FORBIDDEN',
      `${target} ${reason}; outbound requests reach only global addresses unless HTTP_ALLOWLIST lists it`,
    );
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
