/**
 * JSON values packed into bytes, for handing parsed data from one thread to
 * another (a trace parsed and validated in a worker, read by the pipeline on
 * the main thread). `postMessage`'s structured clone costs the receiver about
 * as much as `JSON.parse` did the sender; this format does not, because the
 * two ends keep two tables in step:
 *
 * - object shapes: the ordered key list of every kind of object seen once,
 *   then only its number; the reader builds each shape's objects with a
 *   function made for that shape (one object literal, one hidden class, the
 *   values read in key order);
 * - short strings (kinds, syscall names, paths, object ids): each sent once,
 *   then only its number, and the reader hands out one string instance for
 *   all its uses.
 *
 * Both tables are bounded: when one is full the writer starts over with a
 * reset mark before the next top-level value, and the reader clears its
 * tables there too. Values written and read back are equal to the input
 * (keys in the same order, numbers bit for bit, -0 kept), which a property
 * test holds it to. Only what JSON can hold: null, booleans, finite numbers,
 * strings, arrays and plain objects (no undefined, no NaN or Infinity).
 */

const T_NULL = 0;
const T_FALSE = 1;
const T_TRUE = 2;
const T_INT = 3;
const T_F64 = 4;
const T_STR_REF = 5;
const T_STR_NEW = 6;
const T_STR = 7;
const T_OBJ = 8;
const T_SHAPE_NEW = 9;
const T_ARR = 10;
const T_RESET = 11;

/** Strings up to this many UTF-16 units are sent once and then by number. */
const MAX_SHARED_STRING = 96;
/** Table bounds: past either, both ends start over (shape numbers are written as u16). */
const MAX_STRINGS = 1 << 16;
const MAX_SHAPES = 4096;

/**
 * One step of the writer's shape trie: the keys so far. `key`/`node` hold
 * the last child taken (most objects of a stream share their key order, so
 * a walk is mostly pointer compares); `str`/`strId` the last shared string
 * written as this key's value (the same path, kind or syscall again).
 */
interface ShapeNode {
  id: number;
  next: Map<string, ShapeNode>;
  key: string | undefined;
  node: ShapeNode | undefined;
  str: string | undefined;
  strId: number;
}

const newNode = (): ShapeNode => ({ id: -1, next: new Map(), key: undefined, node: undefined, str: undefined, strId: -1 });

export class PackedWriter {
  private buf = Buffer.allocUnsafe(1 << 20);
  private pos = 0;
  private strings = new Map<string, number>();
  private shapes = newNode();
  private shapeCount = 0;
  /** Values written since the last `take`. */
  count = 0;

  /** Appends one value. */
  write(v: unknown): void {
    if (this.strings.size >= MAX_STRINGS || this.shapeCount >= MAX_SHAPES) {
      this.strings.clear();
      this.shapes = newNode();
      this.shapeCount = 0;
      this.ensure(1);
      this.buf[this.pos++] = T_RESET;
    }
    this.value(v);
    this.count++;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.pos;
  }

  /** The values written since the last call, as a buffer of their own (to transfer); the writer goes on with its tables. */
  take(): ArrayBuffer {
    const out = new ArrayBuffer(this.pos);
    new Uint8Array(out).set(this.buf.subarray(0, this.pos));
    this.pos = 0;
    this.count = 0;
    return out;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  private varint(n: number): void {
    this.ensure(5);
    while (n > 0x7f) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }

  private value(v: unknown): void {
    switch (typeof v) {
      case 'number':
        this.number(v);
        return;
      case 'string':
        this.string(v);
        return;
      case 'boolean':
        this.ensure(1);
        this.buf[this.pos++] = v ? T_TRUE : T_FALSE;
        return;
      case 'object':
        if (v === null) {
          this.ensure(1);
          this.buf[this.pos++] = T_NULL;
        } else if (Array.isArray(v)) this.array(v);
        else this.object(v as Record<string, unknown>);
        return;
      default:
        throw new TypeError(`cannot pack a ${typeof v} (JSON values only)`);
    }
  }

  private number(v: number): void {
    if (!Number.isFinite(v)) throw new TypeError(`cannot pack ${v} (JSON values only)`);
    if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
      this.ensure(5);
      const b = this.buf;
      const p = this.pos;
      b[p] = T_INT;
      b[p + 1] = v;
      b[p + 2] = v >> 8;
      b[p + 3] = v >> 16;
      b[p + 4] = v >> 24;
      this.pos = p + 5;
    } else {
      this.ensure(9);
      this.buf[this.pos++] = T_F64;
      this.buf.writeDoubleLE(v, this.pos);
      this.pos += 8;
    }
  }

  /** Writes s; returns its number in the string table, or -1 for a string too long to share. */
  private string(s: string): number {
    if (s.length <= MAX_SHARED_STRING) {
      let id = this.strings.get(s);
      if (id !== undefined) {
        this.strRef(id);
        return id;
      }
      id = this.strings.size;
      this.strings.set(s, id);
      this.ensure(1);
      this.buf[this.pos++] = T_STR_NEW;
      this.text(s);
      return id;
    }
    this.ensure(1);
    this.buf[this.pos++] = T_STR;
    this.text(s);
    return -1;
  }

  private strRef(id: number): void {
    this.ensure(1);
    this.buf[this.pos++] = T_STR_REF;
    this.varint(id);
  }

  /** Length-prefixed UTF-8 (lone surrogates become U+FFFD, as in any UTF-8 text; the trace itself is UTF-8). */
  private text(s: string): void {
    const len = s.length;
    if (len < 128) {
      // short and ASCII (most are): one length byte and the codes, no call into Buffer
      this.ensure(1 + len);
      const b = this.buf;
      let p = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === len) {
        b[this.pos] = len;
        this.pos = p;
        return;
      }
    }
    this.ensure(5 + len * 3);
    const at = this.pos;
    // room for the longest varint of the length, written after the bytes are known
    const n = this.buf.write(s, at + 5, 'utf8');
    this.varint(n);
    if (this.pos !== at + 5) this.buf.copyWithin(this.pos, at + 5, at + 5 + n);
    this.pos += n;
  }

  private array(a: unknown[]): void {
    this.ensure(1);
    this.buf[this.pos++] = T_ARR;
    this.varint(a.length);
    for (let i = 0; i < a.length; i++) this.value(a[i]);
  }

  /**
   * One pass over the keys: the trie walked and the values written behind
   * three reserved bytes (tag, u16 shape number). A shape seen for the
   * first time gets its number after its values (so after the shapes of
   * objects inside it, as the reader numbers them) and its key list is
   * put in front of the values.
   */
  private object(o: Record<string, unknown>): void {
    this.ensure(3);
    const head = this.pos;
    this.pos += 3;
    let node = this.shapes;
    let keys = 0;
    for (const k in o) {
      let n = node.key === k ? node.node : undefined;
      if (n === undefined) {
        n = node.next.get(k);
        if (n === undefined) node.next.set(k, (n = newNode()));
        node.key = k;
        node.node = n;
      }
      node = n;
      keys++;
      const v = o[k];
      if (typeof v === 'string') {
        if (v === n.str) this.strRef(n.strId);
        else {
          const id = this.string(v);
          if (id >= 0) {
            n.str = v;
            n.strId = id;
          }
        }
      } else this.value(v);
    }
    if (node.id >= 0) {
      const b = this.buf;
      b[head] = T_OBJ;
      b[head + 1] = node.id;
      b[head + 2] = node.id >> 8;
      return;
    }
    node.id = this.shapeCount++;
    // the key list in front of the values: written after them, copied out, the values moved right to make room
    const end = this.pos;
    this.ensure(1);
    this.buf[this.pos++] = T_SHAPE_NEW;
    this.varint(keys);
    for (const k in o) this.text(k);
    const headerBytes = Buffer.from(this.buf.subarray(end, this.pos));
    const shift = headerBytes.length - 3;
    this.pos = end;
    this.ensure(shift);
    this.buf.copyWithin(head + 3 + shift, head + 3, end);
    headerBytes.copy(this.buf, head);
    this.pos = end + shift;
  }
}

type Build = (r: PackedReader) => Record<string, unknown>;

/** Reads what a `PackedWriter` wrote, batch after batch in the order written. */
export class PackedReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private strings: string[] = [];
  private shapes: Build[] = [];

  /** The next batch to read (values are read with `next` until `done`). */
  feed(bytes: ArrayBuffer | Uint8Array): void {
    this.buf = bytes instanceof Uint8Array ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : Buffer.from(bytes);
    this.pos = 0;
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** The next top-level value of the batch. */
  next(): unknown {
    if (this.buf[this.pos] === T_RESET) {
      this.pos++;
      this.strings = [];
      this.shapes = [];
    }
    return this.value();
  }

  private varint(): number {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
      shift += 7;
    }
  }

  private byte(): number {
    if (this.pos >= this.buf.length) throw new RangeError('packed values cut short');
    return this.buf[this.pos++]!;
  }

  private text(): string {
    const n = this.varint();
    const end = this.pos + n;
    if (end > this.buf.length) throw new RangeError('packed values cut short');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }

  /** One value (called by the shape builders, in key order). */
  value(): unknown {
    const t = this.byte();
    switch (t) {
      case T_INT: {
        const v = this.buf.readInt32LE(this.pos);
        this.pos += 4;
        return v;
      }
      case T_STR_REF: {
        const s = this.strings[this.varint()];
        if (s === undefined) throw new RangeError('packed values name an unknown string');
        return s;
      }
      case T_OBJ: {
        if (this.pos + 2 > this.buf.length) throw new RangeError('packed values cut short');
        const build = this.shapes[this.buf.readUInt16LE(this.pos)];
        this.pos += 2;
        if (build === undefined) throw new RangeError('packed values name an unknown shape');
        return build(this);
      }
      case T_STR_NEW: {
        const s = this.text();
        this.strings.push(s);
        return s;
      }
      case T_F64: {
        const v = this.buf.readDoubleLE(this.pos);
        this.pos += 8;
        return v;
      }
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_STR:
        return this.text();
      case T_ARR: {
        const n = this.varint();
        const a: unknown[] = [];
        for (let i = 0; i < n; i++) a.push(this.value());
        return a;
      }
      case T_SHAPE_NEW: {
        const n = this.varint();
        const keys: string[] = [];
        for (let i = 0; i < n; i++) keys.push(this.text());
        // numbered after the objects inside it, as the writer numbers them
        const build = shapeBuilder(keys);
        const o = build(this);
        this.shapes.push(build);
        return o;
      }
      default:
        throw new RangeError(`packed values hold an unknown tag ${t}`);
    }
  }
}

/**
 * A function that builds one object of the shape: an object literal with the
 * keys in order, each value read in turn (an object literal's values are
 * evaluated left to right). Keys are JSON-quoted; `__proto__` is computed,
 * so that it is an own property as JSON.parse makes it, not the prototype.
 */
function shapeBuilder(keys: string[]): Build {
  const body = keys.map((k) => `${k === '__proto__' ? `[${JSON.stringify(k)}]` : JSON.stringify(k)}: r.value()`).join(', ');
  return new Function('r', `return { ${body} };`) as Build;
}
