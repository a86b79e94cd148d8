"""Progress on stderr: a one-line bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    """``progress(stage, done, total)`` for :class:`cityindex.Study`."""

    def __init__(self, enabled: bool = True, stream=None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.stage: str | None = None
        self.start = self.last = 0.0
        self.step = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if stage != self.stage:
            self.stage, self.start, self.last, self.step = stage, now, 0.0, 0
        rate = done / max(now - self.start, 1e-9)
        if self.tty:
            if done < total and now - self.last < 0.25:
                return
            bar = "#" * int(30 * done / max(total, 1))
            self.stream.write(f"\r{stage} [{bar:<30}] {done:>9,}/{total:,} ({rate:,.0f}/s)")
            if done >= total:
                self.stream.write("\n")
        else:  # a log: one line per quarter, and the end
            quarter = int(4 * done / max(total, 1))
            if quarter <= self.step and done < total:
                return
            self.step = quarter
            self.stream.write(f"{stage}: {done:,}/{total:,} ({rate:,.0f}/s)\n")
        self.last = now
        self.stream.flush()

    def note(self, text: str) -> None:
        """A stage without a count (e.g. 'Sobol' indices...')."""
        if self.enabled:
            self.stream.write(f"{text}\n")
            self.stream.flush()
