import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { SmallDisk } from '../testing/small-disk.js';
import { DurableQueue } from './durable-queue.js';

describe('DurableQueue on a full disk (a real tmpfs filled up)', () => {
  const disk = new SmallDisk(256 * 1024);
  afterAll(() => disk.unmount());
  const msg = (i: number): { id: string; body: string } => ({ id: String(i), body: `message ${i} ${'x'.repeat(300)}` });

  it('a refused write never throws: messages queue and deliver from memory, and the files are whole again at the first write that works (a restart then resumes exactly)', () => {
    const dir = join(disk.dir, 'q');
    const q = new DurableQueue(dir, 10_000);
    for (let i = 0; i < 10; i++) expect(q.push(msg(i))).toBe(true);
    q.ack(3);
    disk.fill(0);
    for (let i = 10; i < 200; i++) expect(q.push(msg(i))).toBe(true);
    expect(q.diskBehind).toBe('ENOSPC');
    q.ack(50);
    expect(q.peek(1)[0]!.id).toBe('53');
    disk.free();
    q.push(msg(200));
    expect(q.diskBehind).toBeUndefined();
    q.ack(7);
    const again = new DurableQueue(dir, 10_000);
    expect(again.length).toBe(q.length);
    expect(again.peek(again.length).map((m) => m.id)).toEqual(q.peek(q.length).map((m) => m.id));
    expect(again.peek(1)[0]!.id).toBe('60');
  });
});
