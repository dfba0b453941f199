/**
 * IP addresses from the 32-bit words the kernel keeps them in (network byte
 * order in memory, read as little-endian numbers: what the probe prints and
 * what /proc/net/{tcp,udp}6 show in hex), as inet_ntop(3) writes them.
 */

/** An IPv4 address from its in-memory word. */
export function ipv4Text(word: number): string {
  return [word & 255, (word >>> 8) & 255, (word >>> 16) & 255, (word >>> 24) & 255].join('.');
}

/**
 * An IPv6 address from its four in-memory words, as glibc's inet_ntop
 * writes it (what the probe's ntop prints for syscalls): the first longest
 * run of two or more zero groups as ::, lowercase, v4-mapped as
 * ::ffff:a.b.c.d and v4-compatible (::/96, not :: or ::1) as ::a.b.c.d.
 */
export function ipv6Text(words: readonly number[]): string {
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const v = words[w] ?? 0;
    bytes.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255);
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  const v4mapped = groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff';
  if (v4mapped) return `::ffff:${bytes.slice(12).join('.')}`;
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best === 0 && bestLen === 6) return `::${bytes.slice(12).join('.')}`;
  if (bestLen < 2) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
