import { BlockList, isIP } from 'node:net';
import { UsageError } from '../errors.js';

/** Loopback and private ranges: where pod IPs, node IPs and in-cluster load balancers live. */
export const DEFAULT_ALLOWED_CIDRS = ['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '::1/128', 'fc00::/7'];
export const DEFAULT_ALLOWED_HOSTS = ['localhost'];

/**
 * Splits a Host header into its host part: `[::1]:9090` → `::1`, `10.0.0.7:80` → `10.0.0.7`,
 * `web.local` → `web.local`, `localhost.` → `localhost` (the trailing dot of a fully qualified
 * name). `undefined` when it is not a host with an optional port in 0-65535.
 */
export function hostOf(header: string): string | undefined {
  const value = header.trim().toLowerCase();
  const match = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9.-]+))(?::(\d{1,5}))?$/.exec(value);
  if (!match || (match[3] !== undefined && Number(match[3]) > 65535)) return undefined;
  if (match[1] !== undefined) return isIP(match[1]) === 6 ? match[1] : undefined;
  const name = match[2]!.endsWith('.') ? match[2]!.slice(0, -1) : match[2]!;
  return name === '' || name.endsWith('.') ? undefined : name;
}

/** Parses CIDR ranges into a list, or throws `UsageError` naming the one that is not a range. */
function rangeList(cidrs: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, bits, extra] = cidr.split('/');
    const family = isIP(address ?? '');
    const prefix = Number(bits);
    const max = family === 6 ? 128 : 32;
    if (extra !== undefined || family === 0 || !/^\d{1,3}$/.test(bits ?? '') || prefix > max) {
      throw new UsageError(`invalid CIDR range: expected an address and prefix such as 10.0.0.0/8 or fd00::/8, got ${JSON.stringify(cidr)}`);
    }
    list.addSubnet(address!, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** Whether `address` is inside `list`; an IPv4-mapped IPv6 address (`::ffff:10.0.0.7`, a dual-stack socket) counts as its IPv4 address. */
function inRanges(list: BlockList, address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = mapped ? mapped[1]! : address;
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * Builds the Host header check of the health server. A name must be in
 * `hosts` (a leading `.` allows subdomains: `.svc.cluster.local`); an IP must
 * be inside one of `cidrs`. Health checks from load balancers arrive with an
 * IP as Host; anything else (DNS rebinding, stray traffic) is refused.
 */
export function makeHostCheck(hosts: string[], cidrs: string[]): (header: string | undefined) => boolean {
  const list = rangeList(cidrs);
  const names = hosts.map((h) => h.toLowerCase());
  return (header) => {
    if (!header) return false;
    const host = hostOf(header);
    if (!host) return false;
    if (isIP(host) !== 0) return inRanges(list, host);
    return names.some((name) => name === host || (name.startsWith('.') && host.endsWith(name)));
  };
}

/**
 * Builds the check of the TCP peer address (`--allow-peer`): the address must
 * be inside one of `cidrs`. Unlike the Host header, which the client writes,
 * it is where the connection comes from (behind a proxy: the proxy's address).
 */
export function makePeerCheck(cidrs: string[]): (address: string | undefined) => boolean {
  const list = rangeList(cidrs);
  return (address) => address !== undefined && inRanges(list, address);
}
