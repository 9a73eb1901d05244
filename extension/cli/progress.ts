import type { ParsedArgs } from './args';
import { formatBytes } from './table';

/** A one-line progress indicator on stderr, redrawn at most every 200 ms. */
export class ProgressLine {
  private last = 0;
  constructor(private readonly total: number) {}
  update(done: number): void {
    const now = Date.now();
    if (now - this.last < 200) return;
    this.last = now;
    const percent = this.total > 0 ? ((100 * done) / this.total).toFixed(1) : '100';
    process.stderr.write(`\r${percent}% of ${formatBytes(this.total)} `);
  }
  clear(): void {
    if (this.last > 0) process.stderr.write('\r\x1b[K');
  }
}

/** A progress line when stderr is a terminal and stdout is a readable table rather than a JSON document. */
export function progressLineFor(args: ParsedArgs, totalBytes: number): ProgressLine | undefined {
  return process.stderr.isTTY && !args.flags.has('json') ? new ProgressLine(totalBytes) : undefined;
}
