import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { heldCheckpointNote, verifyAudit, type PinReport } from '../../sinks/audit-verify.js';
import { generateAuditKey, keyId, loadPublicKey, rawPublicKey } from '../../sinks/signed-note.js';
import { ChainwatchError } from '../../util/errors.js';

export const DEFAULT_KEY_NAME = 'chainwatch-audit';

const PIN_TEXT: Record<PinReport['status'], string> = {
  matched: 'the log reaches it with the same root',
  mismatch: 'the log\'s records up to its size differ from what it signed',
  'beyond-log': 'signs more records than the log holds: records were cut off the end',
  'bad-signature': 'not signed by this key',
  'before-anchor': 'covers only segments that retention removed: not checkable',
};

export function auditCommand(): Command {
  const cmd = new Command('audit').summary('the tamper-evident audit log: keys and offline verification').description('See docs/audit.md.');
  cmd
    .command('keygen')
    .description('make an Ed25519 signing key for the audit log (PEM, mode 0600) and print its public key')
    .requiredOption('--out <file>', 'where to write the private key')
    .option('--name <name>', 'the key name in signed checkpoints', DEFAULT_KEY_NAME)
    .option('--force', 'overwrite an existing file')
    .action((opts: { out: string; name: string; force?: boolean }) => {
      if (existsSync(opts.out) && !opts.force) throw new ChainwatchError('USAGE', `${opts.out} exists`, { fix: 'choose another file, or --force to replace the key (old checkpoints then verify only with the old public key)' });
      const k = generateAuditKey();
      writeFileSync(opts.out, k.privatePem, { mode: 0o600 });
      chmodSync(opts.out, 0o600);
      const pub = loadPublicKey(k.publicPem);
      process.stdout.write(k.publicPem);
      process.stderr.write(`chainwatch: private key in ${opts.out}; public key above (give it to auditors: chainwatch audit verify DIR --pubkey FILE); note key ${opts.name}+${keyId(opts.name, pub).toString('hex')}+${Buffer.concat([Buffer.from([1]), rawPublicKey(pub)]).toString('base64')}\n`);
    });
  cmd
    .command('verify')
    .description('check every hash link, signature, segment and checkpoint of DIR with the public key only; exit 0 only when all is intact')
    .argument('<dir>', 'the audit directory (watch --audit)')
    .requiredOption('--pubkey <file>', 'the public key (PEM) printed by audit keygen, or the private key file')
    .option('--name <name>', 'the key name the checkpoints were signed under', DEFAULT_KEY_NAME)
    .option('--checkpoint <file...>', 'a signed checkpoint held elsewhere (a SIEM\'s copy): the log must reach its size with its root, so records cut off the end are found (DIR/checkpoint is always checked)')
    .option('--json', 'the report as JSON')
    .action((dir: string, opts: { pubkey: string; name: string; checkpoint?: string[]; json?: boolean }) => {
      let pem: string;
      try {
        pem = readFileSync(opts.pubkey, 'utf8');
      } catch (e) {
        throw new ChainwatchError('USAGE', `cannot read ${opts.pubkey}: ${(e as Error).message}`, { fix: 'give the public key printed by chainwatch audit keygen' });
      }
      let pub;
      try {
        // a private key file works too: its public half is derived
        pub = loadPublicKey(pem);
      } catch (e) {
        throw new ChainwatchError('USAGE', `${opts.pubkey} is not an Ed25519 key: ${(e as Error).message}`, { fix: 'give the public key printed by chainwatch audit keygen' });
      }
      const pins = (opts.checkpoint ?? []).map((source) => {
        try {
          return { source, note: heldCheckpointNote(readFileSync(source, 'utf8')) };
        } catch (e) {
          throw new ChainwatchError('USAGE', `cannot read ${source}: ${(e as Error).message}`, { fix: 'give a file holding one signed checkpoint note: DIR/checkpoint as it was, the MSG of a syslog checkpoint message, or the JSON an HTTP output received' });
        }
      });
      const r = verifyAudit(dir, pub, opts.name, { pins });
      if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else {
        const out: string[] = [];
        out.push(r.ok ? `intact: ${r.records} records, ${r.checkpoints} signed checkpoints, signed up to record ${r.signedUpToSeq}` : `NOT INTACT: intact up to record ${r.intactUpToSeq}; signed up to record ${r.signedUpToSeq}`);
        if (r.first) out.push(`first problem: ${r.first.problem} at ${r.first.where}: ${r.first.why}`);
        for (const p of r.pins) out.push(`checkpoint ${p.source} (${p.size} records): ${PIN_TEXT[p.status]}`);
        out.push(r.closed ? 'closed: the log ends with its run\'s shutdown and final checkpoint' : 'not closed: the log does not end with a shutdown and its final checkpoint (the run is still going or crashed, or its end was cut off: compare with a checkpoint held elsewhere, --checkpoint)');
        for (const t of r.tears) out.push(`crash: a torn line at ${t.where} (${t.bytes} bytes), recorded by the next run`);
        out.push(`coverage: ${r.coverage.from ?? '?'} … ${r.coverage.to ?? '?'}; ${r.coverage.findings} findings; ${r.coverage.lostEvents} kernel events lost`);
        for (const g of r.coverage.heartbeatGaps) out.push(`heartbeat gap: ${g.seconds} s after ${g.after}`);
        process.stdout.write(`${out.join('\n')}\n`);
      }
      if (!r.ok) process.exitCode = 1;
    });
  return cmd;
}
