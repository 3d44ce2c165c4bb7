/**
 * Progress of a long run on stderr: on a terminal one bar redrawn in place (at most 10 times a
 * second) with count, rate and ETA; otherwise a plain line every 10 seconds (logs, CI, Slurm).
 * With `delayMs`, nothing shows before that much time has passed, so short runs stay quiet.
 */
import type { CliIo } from '../io.js';

/** Between two plain progress lines in a log. */
const LOG_INTERVAL_MS = 10_000;

export class Progress {
  private readonly start: number;
  private lastDraw = -Infinity;
  private done = 0;
  private drawn = false;

  constructor(
    private readonly io: CliIo,
    private total: number,
    /** Rows that were already there (reused): they count as done but not in the rate. */
    private readonly reused: number,
    private readonly label: string,
    private readonly delayMs = 0,
  ) {
    this.start = this.now();
    // A terminal shows the bar at once (after delayMs); logs get their first line after one
    // interval, or once delayMs have passed where there is one (a 2-10 s command logs a line too).
    this.lastDraw = io.stderrIsTTY ? -Infinity : delayMs > 0 ? this.start + delayMs - LOG_INTERVAL_MS : this.start;
  }

  /** A new estimate of the steps (a search knows its total only roughly); never below those done. */
  setTotal(total: number): void {
    this.total = Math.max(total, this.reused + this.done);
  }

  /** A line of the command's own log: on a terminal it goes above the bar, which is redrawn. */
  log(line: string): void {
    if (this.io.stderrIsTTY && this.drawn) {
      this.io.stderr(`\r\u001b[K${line}\n`);
      this.draw(this.now());
    } else {
      this.io.stderr(`${line}\n`);
    }
  }

  private now(): number {
    return this.io.now?.() ?? performance.now();
  }

  /** One more row computed. */
  tick(): void {
    this.done += 1;
    const now = this.now();
    const interval = this.io.stderrIsTTY ? 100 : LOG_INTERVAL_MS;
    if (now - this.lastDraw >= interval && now - this.start >= this.delayMs) {
      this.lastDraw = now;
      this.draw(now);
    }
  }

  /** Ends the bar's line (the summary follows on stdout). */
  finish(): void {
    if (this.io.stderrIsTTY && this.drawn) {
      this.total = this.reused + this.done; // an estimated total ends where the work did
      this.draw(this.now());
      this.io.stderr('\n');
    }
  }

  private draw(now: number): void {
    const complete = this.reused + this.done;
    if (complete > this.total) this.total = complete;
    const elapsed = Math.max(1e-9, (now - this.start) / 1000);
    const rate = this.done / elapsed;
    const left = this.total - complete;
    const eta = rate > 0 ? formatDuration(left / rate) : '?';
    const share = this.total === 0 ? 1 : complete / this.total;
    const stats = `${complete}/${this.total} ${(share * 100).toFixed(1)}%  ${rate.toFixed(1)}/s  ETA ${eta}`;
    if (this.io.stderrIsTTY) {
      const width = 30;
      const filled = Math.round(share * width);
      this.io.stderr(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}\u001b[K`);
      this.drawn = true;
    } else {
      this.io.stderr(`${this.label}: ${stats}\n`);
    }
  }
}

/** Progress of a command, or nothing under --quiet: the bar's interface without output. */
export interface ProgressLike {
  tick(): void;
  finish(): void;
  setTotal(total: number): void;
  /** A line of the command's log (silenced by --quiet too). */
  log(line: string): void;
}

/** Work expected to take longer than this shows progress; shorter runs print nothing. */
export const PROGRESS_AFTER_MS = 2000;

/**
 * A progress display for a command of `total` steps, silenced by --quiet. `delayMs`: show nothing
 * before then (searches and measurements whose length is known only once they run).
 */
export function commandProgress(io: CliIo, total: number, label: string, quiet: boolean | undefined, delayMs = 0): ProgressLike {
  if (quiet === true) return { tick: () => undefined, finish: () => undefined, setTotal: () => undefined, log: () => undefined };
  return new Progress(io, total, 0, label, delayMs);
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
