/**
 * Live progress. On a terminal, one status line redrawn in place with event lines scrolling
 * above it; elsewhere (a pipe, a CI log) a status line every few seconds, so that a log stays
 * short and readable.
 */

/** Prints event lines and keeps the status visible. */
export interface Progress {
  /** A line that stays (an event of the script, or the summary). */
  line(text: string): void;
  /** The current status (drawn in place on a terminal, printed now and then elsewhere). */
  status(text: string): void;
  /** Removes the in-place status line, before the summary. */
  done(): void;
}

/**
 * Creates the progress output. `out` prints a whole line; `tty` is the terminal's stream when
 * stdout is one (then the status is redrawn in place), `everyMs` how often a status line is
 * printed otherwise.
 */
export function createProgress(out: (line: string) => void, tty: NodeJS.WriteStream | undefined, everyMs: number): Progress {
  let shown = "";
  let lastPrinted = 0;
  const clear = (): void => {
    if (tty !== undefined && shown !== "") tty.write("\r\x1b[2K");
  };
  const draw = (): void => {
    if (tty === undefined || shown === "") return;
    const width = tty.columns > 20 ? tty.columns - 1 : 200;
    tty.write(shown.length > width ? `${shown.slice(0, width - 1)}…` : shown);
  };
  return {
    line(text) {
      clear();
      out(text);
      draw();
    },
    status(text) {
      if (tty !== undefined) {
        clear();
        shown = text;
        draw();
        return;
      }
      const now = Date.now();
      if (now - lastPrinted < everyMs) return;
      lastPrinted = now;
      out(text);
    },
    done() {
      clear();
      shown = "";
    },
  };
}
