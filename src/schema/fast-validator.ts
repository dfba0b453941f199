import type { z } from 'zod';

/**
 * A fast yes/no check compiled from a zod schema, for the hot paths that
 * validate every line (trace replay, agent ingest). It is never more lenient
 * than zod: when it says yes, zod accepts the value and returns an equal
 * object (it says no to unknown keys, which zod would strip), so the value
 * can be used as it is. When it says no, the caller asks zod, which gives
 * the precise error (or accepts what the fast check is too strict for).
 *
 * Only the constructs the canonical schemas use are compiled (object,
 * discriminated union, string with regex, safe integer and number with
 * bounds, boolean, literal, enum, optional, nullable, array, tuple, record);
 * anything else makes `compileFastValidator` return null: the caller then
 * always uses zod. A property test holds it to zod's answers.
 */
export type FastValidator = (v: unknown) => boolean;

type Check = (v: unknown) => boolean;

interface ZodDef {
  type: string;
  checks?: { _zod: { def: Record<string, unknown> } }[];
  [k: string]: unknown;
}

const defOf = (s: unknown): ZodDef => (s as { _zod: { def: ZodDef } })._zod.def;

class Unsupported extends Error {}

export function compileFastValidator(schema: z.ZodType): FastValidator | null {
  try {
    return compile(schema);
  } catch (e) {
    if (e instanceof Unsupported) return null;
    throw e;
  }
}

function compile(schema: unknown): Check {
  const def = defOf(schema);
  switch (def.type) {
    case 'string':
      return compileString(def);
    case 'number':
      return compileNumber(def);
    case 'boolean':
      noChecks(def);
      return (v) => typeof v === 'boolean';
    case 'literal': {
      noChecks(def);
      const values = def['values'] as (string | number | boolean)[];
      if (!values.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) throw new Unsupported();
      if (values.length === 1) {
        const only = values[0];
        return (v) => v === only;
      }
      return (v) => values.includes(v as string | number | boolean);
    }
    case 'enum': {
      noChecks(def);
      const values = new Set(Object.values(def['entries'] as Record<string, unknown>));
      if (![...values].every((x) => typeof x === 'string')) throw new Unsupported();
      return (v) => typeof v === 'string' && values.has(v);
    }
    case 'optional': {
      noChecks(def);
      const inner = compile(def['innerType']);
      return (v) => v === undefined || inner(v);
    }
    case 'nullable': {
      noChecks(def);
      const inner = compile(def['innerType']);
      return (v) => v === null || inner(v);
    }
    case 'array': {
      noChecks(def);
      const el = compile(def['element']);
      return (v) => {
        if (!Array.isArray(v)) return false;
        for (let i = 0; i < v.length; i++) if (!el(v[i])) return false;
        return true;
      };
    }
    case 'tuple': {
      noChecks(def);
      if (def['rest'] !== null && def['rest'] !== undefined) throw new Unsupported();
      const items = (def['items'] as unknown[]).map(compile);
      // optional tuple items change the accepted lengths: not compiled
      if ((def['items'] as unknown[]).some((i) => defOf(i).type === 'optional')) throw new Unsupported();
      return (v) => {
        if (!Array.isArray(v) || v.length !== items.length) return false;
        for (let i = 0; i < items.length; i++) if (!items[i]!(v[i])) return false;
        return true;
      };
    }
    case 'record': {
      noChecks(def);
      const key = defOf(def['keyType']);
      if (key.type !== 'string' || (key.checks?.length ?? 0) > 0) throw new Unsupported();
      const value = compile(def['valueType']);
      return (v) => {
        if (!isPlainObject(v)) return false;
        for (const k in v) if (Object.hasOwn(v, k) && !value(v[k])) return false;
        return true;
      };
    }
    case 'object':
      return compileObject(def);
    case 'union':
      return compileUnion(def);
    default:
      throw new Unsupported();
  }
}

const hasChecks = (def: ZodDef): boolean => (def.checks?.length ?? 0) > 0;

function noChecks(def: ZodDef): void {
  if (hasChecks(def)) throw new Unsupported();
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function compileString(def: ZodDef): Check {
  const patterns: RegExp[] = [];
  for (const c of def.checks ?? []) {
    const d = c._zod.def;
    if (d['check'] === 'string_format' && d['format'] === 'regex' && d['pattern'] instanceof RegExp) {
      // a fresh copy: a global or sticky pattern keeps state between tests
      const p = d['pattern'];
      if (p.global || p.sticky) throw new Unsupported();
      patterns.push(p);
    } else throw new Unsupported();
  }
  if (patterns.length === 0) return (v) => typeof v === 'string';
  return (v) => typeof v === 'string' && patterns.every((p) => p.test(v));
}

interface NumberBounds {
  int: boolean;
  min: number;
  minInclusive: boolean;
  max: number;
  maxInclusive: boolean;
}

function numberBounds(def: ZodDef): NumberBounds {
  const b: NumberBounds = { int: false, min: -Infinity, minInclusive: true, max: Infinity, maxInclusive: true };
  for (const c of def.checks ?? []) {
    const d = c._zod.def;
    if (d['check'] === 'number_format' && d['format'] === 'safeint') b.int = true;
    else if (d['check'] === 'greater_than' && typeof d['value'] === 'number') {
      if (d['value'] > b.min || (d['value'] === b.min && d['inclusive'] !== true)) {
        b.min = d['value'];
        b.minInclusive = d['inclusive'] === true;
      }
    } else if (d['check'] === 'less_than' && typeof d['value'] === 'number') {
      if (d['value'] < b.max || (d['value'] === b.max && d['inclusive'] !== true)) {
        b.max = d['value'];
        b.maxInclusive = d['inclusive'] === true;
      }
    } else throw new Unsupported();
  }
  return b;
}

/** A number schema's check as an expression over `x` (its bounds come from the schema, never from input). */
function numberTest(def: ZodDef, x: string): string {
  const b = numberBounds(def);
  const parts = [`typeof ${x} === 'number'`, `Number.isFinite(${x})`];
  if (b.int) parts.push(`Number.isSafeInteger(${x})`);
  if (Number.isFinite(b.min)) parts.push(`${x} ${b.minInclusive ? '>=' : '>'} ${b.min}`);
  if (Number.isFinite(b.max)) parts.push(`${x} ${b.maxInclusive ? '<=' : '<'} ${b.max}`);
  return parts.join(' && ');
}

function compileNumber(def: ZodDef): Check {
  return new Function('x', `return ${numberTest(def, 'x')};`) as Check;
}

/**
 * An object check is generated as code (one function per object schema):
 * each known key read by name, so the function's property loads see the
 * few shapes of that one kind of object instead of every shape of every
 * kind; plain leaf checks (numbers, strings, booleans) written inline;
 * unknown keys found by a switch over the known names.
 */
function compileObject(def: ZodDef): Check {
  noChecks(def);
  // a catchall (passthrough, strict) changes what unknown keys do: not compiled
  if (def['catchall'] !== undefined) throw new Unsupported();
  const shape = def['shape'] as Record<string, unknown>;
  const keys = Object.keys(shape);
  if (keys.includes('__proto__')) throw new Unsupported();
  const calls: Check[] = [];
  const lines: string[] = ['if (!isPlainObject(v)) return false;'];
  keys.forEach((k, i) => {
    lines.push(`const a${i} = v[${JSON.stringify(k)}];`);
    let test = inlineCheck(shape[k], `a${i}`);
    if (test === undefined) {
      calls.push(compile(shape[k]));
      test = `c[${calls.length - 1}](a${i})`;
    }
    lines.push(`if (!(${test})) return false;`);
  });
  // an unknown key: zod would strip it, so the value is not usable as it is
  lines.push(`for (const k in v) { switch (k) { ${keys.map((k) => `case ${JSON.stringify(k)}:`).join(' ')} continue; default: return false; } }`);
  lines.push('return Object.getPrototypeOf(v) === Object.prototype;');
  return new Function('c', 'isPlainObject', `return function check(v) {\n${lines.join('\n')}\n};`)(calls, isPlainObject) as Check;
}

/** The check of a plain leaf schema as an expression over `x`, or undefined when it is not one (the caller calls its compiled check). */
function inlineCheck(schema: unknown, x: string): string | undefined {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional': {
      if (hasChecks(def)) return undefined;
      const inner = inlineCheck(def['innerType'], x);
      return inner === undefined ? undefined : `${x} === undefined || (${inner})`;
    }
    case 'nullable': {
      if (hasChecks(def)) return undefined;
      const inner = inlineCheck(def['innerType'], x);
      return inner === undefined ? undefined : `${x} === null || (${inner})`;
    }
    case 'boolean':
      return hasChecks(def) ? undefined : `typeof ${x} === 'boolean'`;
    case 'string':
      return hasChecks(def) ? undefined : `typeof ${x} === 'string'`;
    case 'number':
      return numberTest(def, x);
    default:
      return undefined;
  }
}

function compileUnion(def: ZodDef): Check {
  noChecks(def);
  const options = def['options'] as unknown[];
  const discriminator = def['discriminator'];
  if (typeof discriminator !== 'string') {
    const all = options.map(compile);
    return (v) => all.some((c) => c(v));
  }
  const byTag = new Map<unknown, Check>();
  for (const o of options) {
    const od = defOf(o);
    if (od.type !== 'object') throw new Unsupported();
    const tag = defOf((od['shape'] as Record<string, unknown>)[discriminator]);
    if (tag.type !== 'literal') throw new Unsupported();
    const check = compile(o);
    for (const t of tag['values'] as unknown[]) {
      if (byTag.has(t)) throw new Unsupported();
      byTag.set(t, check);
    }
  }
  return (v) => {
    if (!isPlainObject(v)) return false;
    const c = byTag.get(v[discriminator]);
    return c !== undefined && c(v);
  };
}
