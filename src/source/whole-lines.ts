import { StringDecoder } from 'node:string_decoder';

/**
 * Cuts a byte stream into runs of whole lines, one read chunk at a time:
 * each chunk gives the text of the lines it completes (every one ending in
 * '\n'), for the decoder to parse in place: no string per line, and one
 * pipeline event per read instead of one per line (node:readline's way).
 * A line, or a UTF-8 character, cut between two chunks is joined whole.
 */
export class WholeLines {
  private readonly utf8 = new StringDecoder('utf8');
  private tail = '';

  /** The whole lines this chunk completes ('' when it completes none). */
  push(chunk: Buffer): string {
    const s = this.utf8.write(chunk);
    const last = s.lastIndexOf('\n');
    if (last < 0) {
      this.tail += s;
      return '';
    }
    // a read that ends on a newline (the usual case) is handed on whole, without a copy
    const endsWhole = last === s.length - 1;
    const text = this.tail + (endsWhole ? s : s.slice(0, last + 1));
    this.tail = endsWhole ? '' : s.slice(last + 1);
    return text;
  }

  /** At the end of the stream: a last line that had no newline ('' when there is none). */
  end(): string {
    const rest = this.tail + this.utf8.end();
    this.tail = '';
    return rest;
  }
}
