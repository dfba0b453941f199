import type { EventKind, EventOf, ObjectView } from '../schema/event.js';
import type { Process } from './process-table.js';
import type { StateCore } from './state-core.js';

/** Resolution a handler returns: the object of each fd field it names, and absolute paths. */
export interface Resolution {
  res?: Record<string, ObjectView>;
  abs?: Record<string, string>;
}

export type Handler<K extends EventKind> = (st: StateCore, ev: EventOf<K>, p: Process) => Resolution | void;
export type HandlerTable = { [K in EventKind]: Handler<K> };
