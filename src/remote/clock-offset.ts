/**
 * Where a guest's clock stands against the host's, NTP style, from probes
 * the host starts: the host stamps a probe when it sends it (t1) and when the
 * answer arrives (t3); the agent stamps its clock when it answers (a). If the
 * agent answered halfway, its clock read a when the host's read (t1+t3)/2, so
 * offset = a − (t1+t3)/2, and whatever the two legs' delays, the true offset
 * is within ±(t3−t1)/2 of that. Of the last `window` samples the one with the
 * shortest round trip wins (the tightest bound; a queued probe only widens
 * its own bound). Clocks drift a little: the window follows them.
 */
export interface OffsetEstimate {
  /** Guest clock minus host clock, ns. */
  offsetNs: bigint;
  /** The true offset lies within ±errorNs of offsetNs (half the best round trip). */
  errorNs: bigint;
  samples: number;
}

export class ClockOffset {
  private readonly samples: { offset: bigint; rtt: bigint }[] = [];

  constructor(private readonly window = 8) {}

  /** One probe: host send time, the agent's clock in its answer, host receive time (host and agent ns). */
  add(hostSend: bigint, agentClock: bigint, hostRecv: bigint): void {
    if (hostRecv < hostSend) return; // not an answer to this probe
    this.samples.push({ offset: agentClock - (hostSend + hostRecv) / 2n, rtt: hostRecv - hostSend });
    if (this.samples.length > this.window) this.samples.shift();
  }

  estimate(): OffsetEstimate | undefined {
    let best: { offset: bigint; rtt: bigint } | undefined;
    for (const s of this.samples) if (best === undefined || s.rtt < best.rtt) best = s;
    return best && { offsetNs: best.offset, errorNs: best.rtt / 2n, samples: this.samples.length };
  }

  /** A guest clock reading on the host's clock (undefined before the first sample). */
  toHost(agentClock: bigint): bigint | undefined {
    const e = this.estimate();
    return e && agentClock - e.offsetNs;
  }
}
