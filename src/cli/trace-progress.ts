import cliProgress from 'cli-progress';
import type { TraceReadStats } from '../source/trace-reader.js';

/**
 * The progress bar of a long replay or load, on stderr: per trace, the
 * part of the file read, events, events/s and findings so far; then, for a
 * load, the rows going into DuckDB. Drawn only when asked (a terminal that
 * is not also showing findings); otherwise every call does nothing.
 */
export class TraceProgress {
  private readonly bar: cliProgress.SingleBar | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private current: TraceReadStats | undefined;
  private t0 = 0;
  /** When the trace's reading ended (a phase began): its rate stays what it was. */
  private readEnd: number | undefined;
  private findings = 0;

  constructor(draw: boolean) {
    if (!draw) return;
    this.bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: '{file} |{bar}| {percentage}% · {events} events · {rate} ev/s · {findings} findings{phase}', hideCursor: true, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    this.timer = setInterval(() => this.draw(), 200);
  }

  /** A trace begins: a new bar for it. */
  traceStart(s: TraceReadStats): void {
    if (!this.bar) return;
    if (this.current) {
      this.draw();
      this.bar.stop();
    }
    this.current = s;
    this.t0 = performance.now();
    this.readEnd = undefined;
    this.bar.start(1, 0, { file: s.file, events: 0, findings: this.findings, rate: 0, phase: '' });
    // the file size is known once reading starts
    setImmediate(() => this.bar?.setTotal(Math.max(1, s.fileBytes)));
  }

  finding(): void {
    this.findings++;
  }

  /** What happens after the trace was read (a load's DuckDB part), shown after the counts. */
  phase(text: string): void {
    if (!this.bar || !this.current) return;
    this.draw();
    this.readEnd ??= performance.now();
    this.bar.update({ phase: ` · ${text}` });
  }

  /** Ends the bar (again: nothing). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (!this.bar || this.current === undefined) return;
    this.draw();
    this.bar.stop();
    this.current = undefined;
  }

  private draw(): void {
    if (!this.bar || !this.current) return;
    const c = this.current;
    const secs = ((this.readEnd ?? performance.now()) - this.t0) / 1000;
    this.bar.update(c.fileBytesRead, { file: c.file, events: c.events, findings: this.findings, rate: secs > 0 ? Math.round(c.events / secs) : 0 });
  }
}
