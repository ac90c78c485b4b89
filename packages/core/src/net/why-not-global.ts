import ipaddr from 'ipaddr.js';

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;

/**
 * Words for ipaddr.js's range names (its `range()`), for messages. Every range other
 * than `unicast` is refused; a name missing here (a range a later ipaddr.js adds) is
 * refused too, as 'a reserved address (range <name>)'.
 */
const LABELS: Record<string, string> = {
  unspecified: 'an unspecified',
  broadcast: 'a broadcast',
  multicast: 'a multicast',
  linkLocal: 'a link-local',
  loopback: 'a loopback',
  carrierGradeNat: 'a carrier-grade NAT',
  private: 'a private',
  reserved: 'a reserved or documentation',
  benchmarking: 'a benchmarking',
  as112: 'an AS112',
  as112v6: 'an AS112',
  amt: 'an AMT',
  uniqueLocal: 'a unique local',
  deprecatedSiteLocal: 'a site-local',
  discard: 'a discard-only',
  ipv4Mapped: 'an IPv4-mapped',
  ipv4Compatible: 'an IPv4-compatible',
  rfc6145: 'an IPv4-translated',
  rfc6052: 'a NAT64',
  '6to4': 'a 6to4',
  teredo: 'a Teredo',
  deprecatedOrchid: 'an ORCHID',
  orchid2: 'an ORCHIDv2',
  droneRemoteIdProtocolEntityTags: 'a drone remote ID',
  segmentRouting: 'an SRv6 SID',
  unallocated: 'an unallocated',
};

/** Where the ranges this file adds to ipaddr.js's table lie. */
const NOTES: Record<string, string> = { ipv4Compatible: '::/96', unallocated: 'outside 2000::/3' };

/**
 * Ranges ipaddr.js calls `unicast` that are not global: IPv4-compatible addresses
 * (::a.b.c.d, deprecated by RFC 4291), and everything outside 2000::/3, the only block
 * IANA has allocated for global unicast (RFC 9780's 100:0:0:1::/64 dummy prefix among it).
 */
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');

function describe(range: string): string {
  const note = NOTES[range];
  return `${LABELS[range] ?? 'a reserved'} address (range ${range}${note ? `, ${note}` : ''})`;
}

function rangeOf(ip: IPv6): string {
  const range: string = ip.range();
  if (range !== 'unicast') return range;
  if (ip.match(IPV4_COMPATIBLE)) return 'ipv4Compatible';
  if (!ip.match(GLOBAL_UNICAST)) return 'unallocated';
  return range;
}

function ipv4(high: number, low: number): IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/**
 * The IPv4 addresses an IPv6 address of `range` carries, each with how it carries it:
 * the last 32 bits of IPv4-mapped ::ffff:a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d,
 * IPv4-compatible ::a.b.c.d and NAT64 (64:ff9b::/96, 64:ff9b:1::/48; RFC 6052's /96
 * layout); bits 16-47 of 6to4 2002:aabb:ccdd::; and Teredo's server (bits 32-63) and
 * client (the last 32 bits, inverted).
 */
function embeddedIPv4(ip: IPv6, range: string): [string, IPv4][] {
  const p = ip.parts;
  const part = (i: number): number => p[i] ?? 0;
  switch (range) {
    case 'ipv4Mapped':
    case 'rfc6145':
    case 'ipv4Compatible':
    case 'rfc6052':
      return [['embedding', ipv4(part(6), part(7))]];
    case '6to4':
      return [['embedding', ipv4(part(1), part(2))]];
    case 'teredo':
      return [
        ['whose server is', ipv4(part(2), part(3))],
        ['whose client is', ipv4(part(6) ^ 0xffff, part(7) ^ 0xffff)],
      ];
    default:
      return [];
  }
}

/**
 * Why an IP address is not globally reachable, or `undefined` when it is. An IPv4
 * address is global when ipaddr.js's `range()` is `unicast`. An IPv6 address is global
 * when its range is `unicast` and it lies in 2000::/3, or when it is IPv4-mapped
 * (::ffff:a.b.c.d, which a dual-stack socket connects to over IPv4) and its IPv4 is
 * global. Every other IPv6 form that carries an IPv4 address is refused; the message
 * names the embedded address when that is itself not global.
 *
 * @example
 * whyNotGlobal('2002:a9fe:a9fe::');
 * // 'a 6to4 address (range 6to4) embedding 169.254.169.254, a link-local address (range linkLocal)'
 */
export function whyNotGlobal(address: string): string | undefined {
  const ip = ipaddr.parse(address);
  if (!(ip instanceof ipaddr.IPv6)) {
    const range: string = ip.range();
    return range === 'unicast' ? undefined : describe(range);
  }
  const range = rangeOf(ip);
  for (const [how, inner] of embeddedIPv4(ip, range)) {
    const innerRange: string = inner.range();
    if (innerRange !== 'unicast') {
      return `${describe(range)} ${how} ${inner.toString()}, ${describe(innerRange)}`;
    }
  }
  if (range === 'unicast' || range === 'ipv4Mapped') return undefined;
  return describe(range);
}
