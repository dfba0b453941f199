import { createHash } from 'node:crypto';

/**
 * RFC 6962 Merkle tree hash, kept incrementally: leaf = SHA-256(0x00 ‖ data),
 * node = SHA-256(0x01 ‖ left ‖ right). The frontier holds one perfect
 * subtree per set bit of the size (at most 64 hashes), so appending is
 * O(log n) and the root of any size is a fold over the frontier, equal to
 * MTH of RFC 6962 §2.1 (the split at the largest power of two below n).
 */
export function leafHash(data: Buffer | string): Buffer {
  return createHash('sha256').update(Buffer.from([0])).update(data).digest();
}

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(Buffer.from([1])).update(left).update(right).digest();
}

export class MerkleFrontier {
  /** Perfect subtrees, largest (oldest) first: [height, hash]. */
  private readonly stack: { height: number; hash: Buffer }[] = [];
  size = 0;

  append(data: Buffer | string): void {
    let node = { height: 0, hash: leafHash(data) };
    while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.height === node.height) {
      const left = this.stack.pop()!;
      node = { height: node.height + 1, hash: nodeHash(left.hash, node.hash) };
    }
    this.stack.push(node);
    this.size++;
  }

  /** The frontier as data (for a retention anchor): size and the perfect subtrees, largest first. */
  export(): { size: number; subtrees: { height: number; hash: string }[] } {
    return { size: this.size, subtrees: this.stack.map((n) => ({ height: n.height, hash: n.hash.toString('hex') })) };
  }

  static from(x: { size: number; subtrees: { height: number; hash: string }[] }): MerkleFrontier {
    const f = new MerkleFrontier();
    for (const n of x.subtrees) f.stack.push({ height: n.height, hash: Buffer.from(n.hash, 'hex') });
    f.size = x.size;
    return f;
  }

  /** MTH of everything appended; the empty tree's hash is SHA-256 of nothing. */
  root(): Buffer {
    if (this.stack.length === 0) return createHash('sha256').digest();
    let acc = this.stack[this.stack.length - 1]!.hash;
    for (let i = this.stack.length - 2; i >= 0; i--) acc = nodeHash(this.stack[i]!.hash, acc);
    return acc;
  }
}

/** MTH straight from RFC 6962's recursive definition (the reference the frontier is tested against). */
export function referenceRoot(leaves: (Buffer | string)[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leafHash(leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}
