import { BlockList, isIP } from 'node:net';
import { UsageError } from '../errors.js';

/** Loopback and private ranges: where pod IPs, node IPs and in-cluster load balancers live. */
export const DEFAULT_ALLOWED_CIDRS = ['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '::1/128', 'fc00::/7'];
export const DEFAULT_ALLOWED_HOSTS = ['localhost'];

/** Splits a Host header into its host part: `[::1]:9090` → `::1`, `10.0.0.7:80` → `10.0.0.7`, `web.local` → `web.local`. */
export function hostOf(header: string): string | undefined {
  const value = header.trim().toLowerCase();
  const bracketed = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(value);
  if (bracketed) return bracketed[1];
  const plain = /^([a-z0-9.-]+)(?::\d{1,5})?$/.exec(value);
  return plain?.[1];
}

/**
 * Builds the Host header check of the health server. A name must be in
 * `hosts` (a leading `.` allows subdomains: `.svc.cluster.local`); an IP must
 * be inside one of `cidrs`. Health checks from load balancers arrive with an
 * IP as Host; anything else (DNS rebinding, stray traffic) is refused.
 */
export function makeHostCheck(hosts: string[], cidrs: string[]): (header: string | undefined) => boolean {
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
  const names = hosts.map((h) => h.toLowerCase());
  return (header) => {
    if (!header) return false;
    const host = hostOf(header);
    if (!host) return false;
    const family = isIP(host);
    if (family !== 0) return list.check(host, family === 6 ? 'ipv6' : 'ipv4');
    return names.some((name) => name === host || (name.startsWith('.') && host.endsWith(name)));
  };
}
