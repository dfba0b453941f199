import { describe, expect, it } from 'vitest';
import { BpftraceProcess, STOP_REQUEST_PID } from './bpftrace-process.js';

/**
 * finish(): chainwatch's stop request (its own kill(STOP_REQUEST_PID, 0))
 * against the real bpftrace. A probe that answers it ends the output at its
 * BYE and bpftrace is not waited for; a probe that does not is stopped the
 * old way (SIGINT, detach, END) once the wait for an answer runs out.
 */

const BASE = `
END { printf("END\\t1\\n"); printf("BYE\\t%lu\\n", nsecs); }
BEGIN { printf("HELLO\\t%lu\\t%d\\n", nsecs, pid); }
`;
const ANSWERS = `tracepoint:syscalls:sys_enter_kill /args->pid == ${STOP_REQUEST_PID} && args->sig == 0/ { printf("PENDING\\t1\\n"); printf("BYE\\t%lu\\n", nsecs); }\n${BASE}`;

async function finished(script: string, waitMs: number): Promise<{ bpf: BpftraceProcess; text: string }> {
  const bpf = new BpftraceProcess({ script, batch: false });
  let text = '';
  const done = new Promise<void>((resolve, reject) => bpf.output$.subscribe({ next: (parts) => (text += parts.join('')), error: reject, complete: resolve }));
  await bpf.attached;
  bpf.finish(waitMs);
  await done;
  return { bpf, text };
}

describe('finish: the stop request', () => {
  it('ends the output at the answer and does not wait for bpftrace to detach and exit', async () => {
    const { bpf, text } = await finished(ANSWERS, 10_000);
    expect(bpf.ended).toBe('stop-request');
    expect(text).toContain('"data": "PENDING\\t1\\n"');
    expect(text.trimEnd().split('\n').pop()).toMatch(/^\{"type": "printf", "data": "BYE\\t\d+\\n"\}$/);
    // the END block never ran: bpftrace was killed, not asked to exit
    expect(text).not.toContain('"data": "END\\t1\\n"');
  });

  it('falls back to SIGINT, the detach and END when the probe does not answer', async () => {
    const { bpf, text } = await finished(BASE, 500);
    expect(bpf.ended).toBe('exit');
    expect(text).toContain('"data": "END\\t1\\n"');
  });
});
