/**
 * Up to which kernel time has bpftrace delivered every record?
 *
 * bpftrace 0.17 writes records into one perf ring per CPU and reads them in
 * rounds: each round waits for ready rings, then visits each ring once,
 * reading the records present when the visit starts. Within a round the
 * rings are read one after another, so records reach us out of time order
 * by as much as the round spans (under load, far more than any fixed
 * window). What the rounds do guarantee:
 *
 * - a TICK stamped T, read by us at S (same clock: CLOCK_MONOTONIC), was
 *   read by bpftrace in a ring visit that started before S;
 * - a TICK stamped T1 > S was written to the same ring after that visit
 *   began, so bpftrace reads it in a later round; every ring visit of that
 *   later round starts
 *   after T, so it picks up every record stamped before T − `marginNs`
 *   (records are written microseconds after they are stamped, but a
 *   preempted vCPU or an interrupt can stretch that: 10 ms of slack);
 * - a TICK stamped T2 > S1 (when we read T1) is in a round later still, so
 *   when we read it, the round that read T1 is over.
 *
 * So seeing T1 and then T2 proves every record stamped before T − margin
 * has been delivered, whatever the load. Proofs lag the kernel by about two
 * TICK periods plus twice bpftrace's reading delay.
 */
export class DeliveryProof {
  /** Ticks not yet proven: stamp and when we read it, oldest first. */
  private readonly waiting: { stamp: bigint; seenAt: bigint; stage: 0 | 1; stageSeenAt: bigint }[] = [];
  private proven = -1n;

  // 10 ms: a record can be written well after it was stamped when the vCPU is preempted (steal time) or an interrupt runs in between
  constructor(private readonly marginNs = 10_000_000n) {}

  /**
   * A TICK stamped `stamp` was read at `seenAt` (both CLOCK_MONOTONIC ns).
   * Returns the kernel time up to which delivery is proven (-1 if none yet).
   */
  onTick(stamp: bigint, seenAt: bigint): bigint {
    for (const w of this.waiting) {
      if (w.stage === 0 && stamp > w.seenAt) {
        w.stage = 1;
        w.stageSeenAt = seenAt;
      } else if (w.stage === 1 && stamp > w.stageSeenAt) {
        const upTo = w.stamp - this.marginNs;
        if (upTo > this.proven) this.proven = upTo;
      }
    }
    // proven ticks are a prefix (stamps and read times only grow); drop them
    let done = 0;
    while (done < this.waiting.length && this.waiting[done]!.stamp - this.marginNs <= this.proven) done++;
    if (done > 0) this.waiting.splice(0, done);
    this.waiting.push({ stamp, seenAt, stage: 0, stageSeenAt: 0n });
    // a stalled reader must not grow this without bound: the oldest unproven ticks add nothing the newer ones don't
    if (this.waiting.length > 4096) this.waiting.splice(0, this.waiting.length - 4096);
    return this.proven;
  }

  /** Kernel time up to which delivery is proven (-1 if none yet). */
  get upTo(): bigint {
    return this.proven;
  }
}
