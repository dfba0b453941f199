import { map, type OperatorFunction } from 'rxjs';
import type { Event } from '../../schema/event.js';
import type { SystemState } from '../../state/system-state.js';

/** The state stage: every event leaves with `proc` and the object of each fd it names. */
export function resolveState(state: SystemState): OperatorFunction<Event, Event> {
  return map((ev) => state.apply(ev));
}
