/**
 * The records and progress of a long analysis, handed on at most once per interval (and at once when asked), so a
 * scan of thousands of small tensors does not flood the webview with a message per tensor.
 */
export class UpdateBatcher<R> {
  private pending: R[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly deliver: (records: R[]) => void,
    private readonly intervalMs = 250,
  ) {}

  /** Queues records for the next delivery; with none, the delivery carries only the progress that changed. */
  add(...records: R[]): void {
    this.pending.push(...records);
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Delivers what is queued now. */
  flush(): void {
    this.cancelTimer();
    const records = this.pending;
    this.pending = [];
    this.deliver(records);
  }

  /** Drops what is queued: the analysis stopped or was replaced. */
  clear(): void {
    this.cancelTimer();
    this.pending = [];
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
