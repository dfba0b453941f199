import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

/**
 * C2SP signed notes (https://c2sp.org/signed-note) carrying C2SP
 * transparency-log checkpoints (https://c2sp.org/tlog-checkpoint):
 *
 *   <origin>\n<tree size>\n<base64 root hash>\n
 *   \n
 *   — <key name> <base64(key id (4 bytes) ‖ Ed25519 signature)>\n
 *
 * The signature is over the body (the first three lines, with their
 * newlines), so `openssl pkeyutl -verify -rawin` checks it with the public
 * key alone. The key id is SHA-256(name ‖ "\n" ‖ 0x01 ‖ raw public key)[:4].
 */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
}

export function checkpointBody(c: Checkpoint): string {
  return `${c.origin}\n${c.size}\n${c.root.toString('base64')}\n`;
}

export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32);
}

export function keyId(name: string, key: KeyObject): Buffer {
  return createHash('sha256').update(`${name}\n`).update(Buffer.from([1])).update(rawPublicKey(key)).digest().subarray(0, 4);
}

export function signNote(body: string, name: string, key: KeyObject): string {
  const sig = sign(null, Buffer.from(body), key);
  return `${body}\n— ${name} ${Buffer.concat([keyId(name, key), sig]).toString('base64')}\n`;
}

export interface OpenedNote {
  body: string;
  checkpoint: Checkpoint | undefined;
  /** Whether a signature line by `name` with this key verifies. */
  valid: boolean;
  why?: string;
}

/** Parses a signed checkpoint note and checks its signature with `pub` (and the key name it was signed under). */
export function openNote(note: string, name: string, pub: KeyObject): OpenedNote {
  const split = note.indexOf('\n\n');
  if (split < 0) return { body: note, checkpoint: undefined, valid: false, why: 'no signature block' };
  const body = note.slice(0, split + 1);
  const lines = body.split('\n');
  const size = Number(lines[1]);
  const root = lines[2] !== undefined ? Buffer.from(lines[2], 'base64') : Buffer.alloc(0);
  const checkpoint = lines.length >= 4 && Number.isSafeInteger(size) && root.length === 32 ? { origin: lines[0]!, size, root } : undefined;
  const id = keyId(name, pub);
  for (const l of note.slice(split + 2).split('\n')) {
    const m = /^— (\S+) ([A-Za-z0-9+/=]+)$/.exec(l);
    if (m === null || m[1] !== name) continue;
    const raw = Buffer.from(m[2]!, 'base64');
    if (raw.length !== 68 || !raw.subarray(0, 4).equals(id)) continue;
    const ok = verify(null, Buffer.from(body), pub, raw.subarray(4));
    return ok ? { body, checkpoint, valid: true } : { body, checkpoint, valid: false, why: 'bad signature' };
  }
  return { body, checkpoint, valid: false, why: `no signature by ${name} with this key` };
}

export function generateAuditKey(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

export function loadPrivateKey(pem: string): KeyObject {
  return createPrivateKey(pem);
}

export function loadPublicKey(pem: string): KeyObject {
  const k = createPublicKey(pem);
  if (k.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 public key, got ${k.asymmetricKeyType ?? 'unknown'}`);
  return k;
}
