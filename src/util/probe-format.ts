/** What the probe's records look like on their way out of bpftrace, shared by the source (which cuts them) and the decoder (which reads them). */

/** BPFTRACE_STRLEN the probes run with: the bytes of every str() in a record; a string of STRLEN-1 bytes may have been cut. */
export const PROBE_STRLEN = 160;

/**
 * How probes/binary-records.c hands a printf record over in bpftrace's
 * stdout, between its JSON lines: one tag byte, a u32 length (little
 * endian), then the record's bytes as the probe wrote them. No JSON line
 * starts with either tag.
 */
export const FRAME = 0x1e;
/** The first record of its printf id: bpftrace's own JSON line of the same record comes right after the frame. */
export const FRAME_ECHOED = 0x1f;
/** The tag and the length. */
export const FRAME_HEAD = 5;
