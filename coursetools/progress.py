"""Progress of a grading run: students done / failed / remaining, rate and ETA.

On a terminal one bar line is redrawn in place (failures are printed above it); in a log
or a pipe every finished student gets one line, so a long run can be followed with tail -f.
"""

import sys
import time


def duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    WIDTH = 24

    def __init__(self, total, log=print, stream=None, clock=time.monotonic, jobs=1):
        self.total, self.log, self.clock, self.jobs = total, log, clock, max(1, jobs)
        self.seconds = 0.0  # summed grading time of the finished students
        self.stream = stream if stream is not None else (sys.stdout if log is print else None)
        self.live = bool(self.stream is not None and getattr(self.stream, "isatty", lambda: False)())
        self.done = self.failed = 0
        self.started = clock()

    @property
    def finished(self):
        return self.done + self.failed

    def status(self):
        """'done 12, failed 1, left 187, 5.2/min, ETA 36m00s' (rate and ETA once known)."""
        left = self.total - self.finished
        text = f"done {self.done}, failed {self.failed}, left {left}"
        elapsed = self.clock() - self.started
        if self.finished and elapsed > 0:
            rate = self.finished / elapsed
            if self.finished < self.jobs and self.seconds > 0:
                # the first results come in together: until every worker has finished one,
                # estimate from the time per student instead (start-up would count N times)
                rate = self.jobs * self.finished / self.seconds
            text += f", {rate * 60:.1f}/min"
            if left:
                text += f", ETA {duration(left / rate)}"
            else:
                text += f", took {duration(elapsed)}"
        return text

    def update(self, result):
        """``result``: a coursetools.parallel result dict (student, ok, score, max_score, ...)."""
        self.seconds += result.get("seconds", 0)
        if result["ok"]:
            self.done += 1
            what = f"{result['score']:g}/{result['max_score']:g}"
        else:
            self.failed += 1
            what = f"FAILED: {result['error']}"
        line = (f"  [{self.finished:>{len(str(self.total))}}/{self.total}] {result['student']:<20} "
                f"{what}  ({result.get('seconds', 0):.1f}s)")
        if not self.live:
            self.log(f"{line} | {self.status()}")
            return
        if not result["ok"]:
            self.stream.write("\r\033[K" + line + "\n")
        self._draw()

    def start(self):
        if self.live:
            self._draw()

    def _draw(self):
        filled = self.WIDTH * self.finished // max(1, self.total)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r\033[K  [{bar}] {self.finished}/{self.total}  {self.status()}")
        if self.finished == self.total:
            self.stream.write("\n")
        self.stream.flush()
