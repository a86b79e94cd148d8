"""Progress on stderr: a one-line bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    """``progress(stage, done, total)`` for :class:`cityindex.Study`.

    A stage with a count (Monte Carlo, noise) shows a bar on a terminal and one line per
    quarter otherwise; a stage without one is reported as ``(stage, 0, 1)`` when it starts
    and ``(stage, 1, 1)`` when it ends, shown as "stage ..." and "stage: done in 1.9 s"."""

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
        if total == 1:  # a stage without a count: its start and its end
            if done < total:
                self.stream.write(f"{stage} …" if self.tty else f"{stage} …\n")
            else:
                back = "\r" if self.tty else ""
                self.stream.write(f"{back}{stage}: done in {now - self.start:.1f} s\n")
            self.stream.flush()
            return
        elapsed = now - self.start  # a rate only once there is time to measure it on
        rate = f" ({done / elapsed:,.0f}/s)" if elapsed >= 0.1 else ""
        if elapsed >= 1.0 and 0 < done < total:   # time left at the rate so far
            rate += f", about {elapsed * (total - done) / done:,.0f} s left"
        if self.tty:
            if done < total and now - self.last < 0.25:
                return
            bar = "#" * int(30 * done / max(total, 1))
            self.stream.write(f"\r{stage} [{bar:<30}] {done:>9,}/{total:,}{rate}")
            if done >= total:
                self.stream.write("\n")
        else:  # a log: one line per quarter, and the end
            quarter = int(4 * done / max(total, 1))
            if quarter <= self.step and done < total:
                return
            self.step = quarter
            self.stream.write(f"{stage}: {done:,}/{total:,}{rate}\n")
        self.last = now
        self.stream.flush()

    def note(self, text: str) -> None:
        """A line of its own (e.g. 'Sobol' indices...')."""
        if self.enabled:
            self.stream.write(f"{text}\n")
            self.stream.flush()
