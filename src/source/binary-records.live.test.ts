import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Event } from '../schema/event.js';
import { LiveHarness, ofKind, type ScenarioResult } from '../testing/live-harness.js';

/**
 * Binary records (probes/binary-records.c) against the real bpftrace: the
 * same real programs watched by two sessions, one reading the probe's
 * records from their bytes, one from bpftrace's text of them, give the same
 * events; every layout the run used was checked against bpftrace's own text
 * of its first record and none disagreed. The program is chosen to go
 * through the layouts with unusual parts: IPv6 and IPv4-mapped peers
 * (ntop), an abstract unix address ('@' and the name), paths and argv with
 * TABs, quotes, backslashes and non-ASCII characters, large and negative
 * numbers.
 */

let binary: LiveHarness;
let text: LiveHarness;
let dir: string;
const servers: Server[] = [];
let port6 = 0;
let port4 = 0;

const WEIRD = 'we"ird\\ta\tb näme€😀.txt';

async function listen(host: string): Promise<number> {
  const s = createServer((c) => c.resume());
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, host, () => r()));
  return (s.address() as { port: number }).port;
}

const SCRIPT = (): string =>
  [
    'import os, socket',
    `p = ${JSON.stringify(join(dir, WEIRD))}`,
    'fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC); os.read(fd, 64); os.close(fd)',
    `s = socket.socket(socket.AF_INET6); s.connect(("::1", ${port6})); s.sendall(b"x" * 100); s.close()`,
    `s = socket.socket(socket.AF_INET6); s.connect(("::ffff:127.0.0.2", ${port4})); s.sendall(b"y" * 7); s.close()`,
    'u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); u.bind("\\0cw-abstract-binrec"); u.close()',
    'os.close(os.dup2(0, 1000)) if False else None',
    'try:\n    os.close(12345)\nexcept OSError:\n    pass',
  ].join('\n');

/** What must not differ between the two readings: the events' substance, not their pids or times. */
function substance(events: Event[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.kind === 'file.open' && e.path.startsWith(dir)) out.push(`open ${e.path} ${e.flags} ${e.ret >= 0}`);
    else if (e.kind === 'net.addr') out.push(`${e.op} ${e.family} ${e.addr ?? e.path ?? ''} ${e.port ?? ''} ${e.ret}`);
    else if (e.kind === 'process.exec') out.push(`exec ${e.filename} ${JSON.stringify(e.argv)}`);
    else if (e.kind === 'fd.close' && e.fd === 12345) out.push(`close ${e.fd} ${e.ret}`);
    else if (e.kind === 'io' && e.dir === 'out' && e.res?.fd?.type === 'socket') out.push(`send ${e.bytes} ${e.res.fd.peer?.addr}`);
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cw-binrec-'));
  writeFileSync(join(dir, WEIRD), 'data\n');
  port6 = await listen('::1');
  port4 = await listen('127.0.0.2');
  binary = new LiveHarness('binrec');
  text = new LiveHarness('textrec', { binaryRecords: false });
  await Promise.all([binary.start(), text.start()]);
}, 180_000);

afterAll(async () => {
  await Promise.all([binary?.close(), text?.close()]);
  binary?.cleanup();
  text?.cleanup();
  for (const s of servers) s.close();
}, 60_000);

describe('binary records (live)', () => {
  it('give the same events as bpftrace\'s text, and every layout used agreed with bpftrace\'s text of its first record', async () => {
    const prog = join(dir, 'prog.py');
    writeFileSync(prog, SCRIPT());
    const cmd = `python3 ${prog} "arg with\ttab" 'quo"te' 'back\\slash' ünï`;
    const [b, t]: ScenarioResult[] = await Promise.all([binary.run('weird', cmd), text.run('weird', cmd)]);
    expect(b.code, b.stderr).toBe(0);
    expect(t.code, t.stderr).toBe(0);
    const sb = substance(b.events);
    // bpftrace 0.17's JSON writer escapes every byte >= 0x80 of a string as a sign-extended \uffffffXX; the text reading undoes it
    expect(sb).toEqual(substance(t.events));
    expect(sb).toEqual(
      expect.arrayContaining([
        `open ${join(dir, WEIRD)} ${0o2000000} true`,
        `connect inet6 ::1 ${port6} 0`,
        `connect inet6 ::ffff:127.0.0.2 ${port4} 0`,
        'bind unix @cw-abstract-binrec  0',
        'close 12345 -9',
        expect.stringMatching(/^exec \S*python3 /),
      ]),
    );
    // every exec has its own arguments (they are printed on the CPU execve started on, the exec on the one it moved to)
    expect(ofKind(b.events, 'process.exec').map((e) => e.argv)).toContainEqual(['python3', prog, 'arg with\ttab', 'quo"te', 'back\\slash', 'ünï']);
    for (const e of ofKind(b.events, 'process.exec')) expect(e.argv.length, `${e.filename} ${JSON.stringify(e.argv)}`).toBeGreaterThan(0);
    expect(ofKind(b.events, 'process.comm').map((e) => e.comm)).toContain('python3');
    const [sumB, sumT] = await Promise.all([binary.close(), text.close()]);
    expect(sumB.decoder.frames).toBeGreaterThan(100);
    expect(sumB.decoder.layoutsChecked).toBeGreaterThan(15);
    expect(sumB.decoder.layoutsWrong).toBe(0);
    expect(sumB.decoder.malformed).toBe(0);
    expect(sumT.decoder.frames).toBe(0);
    expect(sumT.decoder.malformed).toBe(0);
  }, 120_000);
});
