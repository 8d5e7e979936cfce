import { formatBytes } from '@sqlitening/contract';

/**
 * Text for a terminal: control characters other than newline and tab (ESC
 * among them) are shown as `\u001b`-style escapes. Messages quote manifests,
 * file names and store answers, and an escape sequence in one of those must
 * not move the cursor, retitle the window or hide what follows.
 */
export function terminalSafe(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Transfers smaller than this get no progress bar: it would only flicker. */
const PROGRESS_MIN_BYTES = 4 * 1024 * 1024;

/**
 * Everything the CLI tells its user goes through here: JSON lines on stdout
 * with `--json` (one object per event, for scripts and log collectors), or
 * short human lines on stderr with a progress bar when stderr is a terminal.
 */
export class Reporter {
  #lastDraw = 0;
  #barShown = false;
  #lastJson = 0;
  #jsonPhase = '';

  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {}

  /** A step worth a line: `human` for people, `fields` (with the event name) for machines. */
  event(name: string, fields: Record<string, unknown>, human?: string): void {
    this.#clearBar();
    if (this.json) this.stdout.write(`${JSON.stringify({ event: name, time: new Date().toISOString(), ...fields })}\n`);
    else if (human) this.stderr.write(`${terminalSafe(human)}\n`);
  }

  /** The final result: a JSON line, or a human summary on stdout. */
  result(fields: Record<string, unknown>, human: string): void {
    this.#clearBar();
    if (this.json) this.stdout.write(`${JSON.stringify({ event: 'result', time: new Date().toISOString(), ...fields })}\n`);
    else this.stdout.write(`${terminalSafe(human)}\n`);
  }

  error(code: string, message: string, retryable: boolean): void {
    this.#clearBar();
    if (this.json) this.stdout.write(`${JSON.stringify({ event: 'error', time: new Date().toISOString(), code, message, retryable })}\n`);
    this.stderr.write(`sqlitening: error: ${terminalSafe(message)}${retryable ? ' (retrying may help)' : ''}\n`);
  }

  /**
   * Progress of a transfer: a bar drawn at most 10 times a second on a
   * terminal; with `--json`, a `progress` line at most once a second (and for
   * the first bytes of each phase).
   */
  progress(label: string, bytes: number, total: number): void {
    if (this.json) {
      const now = Date.now();
      if (label !== this.#jsonPhase || now - this.#lastJson >= 1000 || bytes === total) {
        this.#jsonPhase = label;
        this.#lastJson = now;
        this.stdout.write(`${JSON.stringify({ event: 'progress', time: new Date(now).toISOString(), phase: label, bytes, total })}\n`);
      }
      return;
    }
    if (!this.stderr.isTTY || total < PROGRESS_MIN_BYTES) return;
    const now = Date.now();
    if (now - this.#lastDraw < 100 && bytes < total) return;
    this.#lastDraw = now;
    const width = 30;
    const share = Math.min(1, bytes / total);
    const bar = '#'.repeat(Math.round(share * width)).padEnd(width, '.');
    this.stderr.write(`\r${label} [${bar}] ${(share * 100).toFixed(0).padStart(3)}% ${formatBytes(bytes)} / ${formatBytes(total)}  `);
    this.#barShown = true;
  }

  #clearBar(): void {
    if (!this.#barShown) return;
    this.stderr.write('\r\x1b[K');
    this.#barShown = false;
  }
}
