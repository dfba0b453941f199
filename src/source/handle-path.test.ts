import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { statObjId } from '../util/obj-id.js';
import { handlePathHelper, pathOfHandle } from './handle-path.js';

/** The handle name_to_handle_at(2) gives for `path` (python3's ctypes: node has no binding), as the probe reports one. */
function handleOf(path: string): { type: number; bytes: number; hex: string } {
  const out = execFileSync('python3', ['-c', `
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
class H(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int), ("f_handle", ctypes.c_ubyte * 128)]
h = H(); h.handle_bytes = 128
m = ctypes.c_int()
if libc.name_to_handle_at(-100, sys.argv[1].encode(), ctypes.byref(h), ctypes.byref(m), 0) != 0:
    raise OSError(ctypes.get_errno(), "name_to_handle_at")
print(h.handle_type, h.handle_bytes, bytes(h.f_handle[:h.handle_bytes]).hex())
`, path]).toString().trim().split(' ');
  return { type: Number(out[0]), bytes: Number(out[1]), hex: out[2]! };
}

describe('pathOfHandle: a file opened by a handle, named from the handle (real kernel, probes/handle-path.c)', () => {
  it('names the file the handle names, only if it is the object the kernel gave; a renamed file under its name now', () => {
    expect(handlePathHelper(), 'dist/handle-path: npm run build compiles probes/handle-path.c (needs gcc)').toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'cw-handle-'));
    const file = join(dir, 'id_ed25519');
    writeFileSync(file, 'key\n');
    const st = statSync(file, { bigint: true });
    const obj = statObjId(st.dev, st.ino);
    const h = handleOf(file);
    expect(pathOfHandle(obj, h)).toBe(file);
    // another object than the kernel gave (the handle changed in memory after the call): not taken
    expect(pathOfHandle(`${obj.slice(0, obj.lastIndexOf(':'))}:1`, h)).toBeUndefined();
    // a handle longer than the probe reads (hex cut short) or empty: not tried
    expect(pathOfHandle(obj, { ...h, hex: h.hex.slice(0, -2) })).toBeUndefined();
    expect(pathOfHandle(obj, { ...h, bytes: 0, hex: '' })).toBeUndefined();
    // renamed since: the handle still names it, where it is now
    execFileSync('mv', [file, join(dir, 'moved')]);
    expect(pathOfHandle(obj, h)).toBe(join(dir, 'moved'));
    // gone: nothing
    execFileSync('rm', [join(dir, 'moved')]);
    expect(pathOfHandle(obj, h)).toBeUndefined();
  });
});
