"""One throttle for the progress figures jobs write to their rows (a video's
import and segmentation, an export): a write only when the figure changed,
and at most every `interval` seconds unless forced, so a tight loop costs a
handful of UPDATEs rather than thousands."""

import time
from typing import Callable


class ProgressWriter:
    def __init__(self, write: Callable[[int], object], interval: float = 0.0):
        self.write, self.interval = write, interval
        self.value, self.last = -1, 0.0

    def __call__(self, value: float, force: bool = False) -> bool:
        """Write `value` (clamped to 0..100) if due; returns whether it wrote."""
        value = max(0, min(100, int(value)))
        now = time.monotonic()
        if value == self.value or not (force or self.interval <= 0 or now - self.last > self.interval):
            return False
        self.write(value)
        self.value, self.last = value, now
        return True
