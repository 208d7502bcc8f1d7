"""Bandwidth limit: a shared token bucket whose rate may follow a weekly timetable.

Timetable syntax follows rclone's ``--bwlimit``, which operators may already know:

    "10M"                                  always 10 MiB/s
    "08:00,512K 12:00,10M 18:00,off"       by time of day (local time)
    "Mon-08:00,2M Sat-00:00,off"           by weekday and time

Sizes are bytes per second with binary suffixes K, M, G (an optional trailing "B" or "/s"
is accepted); "off" or "0" means unlimited.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from datauploader.core.clock import Clock
from datauploader.errors import CancelledError
from datauploader.units import parse_rate

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
@dataclass(frozen=True)
class _Slot:
    minute_of_week: int  # 0 = Monday 00:00
    rate: float | None


class Timetable:
    """A rate for every minute of the week."""

    def __init__(self, slots: list[_Slot], text: str):
        self._slots = sorted(slots, key=lambda s: s.minute_of_week)
        self.text = text

    @classmethod
    def parse(cls, text: str) -> "Timetable":
        text = (text or "").strip()
        if "," not in text:
            return cls([_Slot(0, parse_rate(text))], text)
        slots: list[_Slot] = []
        for item in text.split():
            try:
                when, rate = item.split(",", 1)
            except ValueError:
                raise ValueError(f"'{item}' should be TIME,RATE such as 08:00,10M") from None
            days: list[int]
            if "-" in when:
                day, hhmm = when.split("-", 1)
                if day.lower()[:3] not in _DAYS:
                    raise ValueError(f"'{day}' is not a weekday (Mon, Tue, … Sun)")
                days = [_DAYS.index(day.lower()[:3])]
            else:
                hhmm = when
                days = list(range(7))
            m = re.fullmatch(r"(\d{1,2}):(\d{2})", hhmm)
            if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
                raise ValueError(f"'{hhmm}' is not a time of day (HH:MM)")
            r = parse_rate(rate)
            for d in days:
                slots.append(_Slot(d * 1440 + int(m.group(1)) * 60 + int(m.group(2)), r))
        return cls(slots, text)

    def rate_at(self, epoch_seconds: float) -> float | None:
        lt = time.localtime(epoch_seconds)
        minute = lt.tm_wday * 1440 + lt.tm_hour * 60 + lt.tm_min
        current = self._slots[-1]  # wraps around from the end of last week
        for slot in self._slots:
            if slot.minute_of_week <= minute:
                current = slot
            else:
                break
        return current.rate

    @property
    def is_unlimited(self) -> bool:
        return all(s.rate is None for s in self._slots)


class Throttle:
    """Blocks callers so that the bytes they announce stay under the current rate.

    Shared by all workers of a job. Reserves time on a virtual schedule, so that a caller
    announcing a large chunk waits once instead of spinning; allows a burst of
    ``burst_seconds`` worth of data after an idle period.
    """

    def __init__(self, timetable: Timetable | str | None = None, clock: Clock | None = None,
                 burst_seconds: float = 0.25):
        if isinstance(timetable, str) or timetable is None:
            timetable = Timetable.parse(timetable or "off")
        self.timetable = timetable
        self.clock = clock or Clock()
        self.burst_seconds = burst_seconds
        self._next = 0.0
        self._lock = threading.Lock()
        self._unlimited = timetable.is_unlimited

    def current_rate(self) -> float | None:
        return self.timetable.rate_at(self.clock.now())

    def consume(self, nbytes: int, cancel: threading.Event | None = None) -> None:
        if self._unlimited or nbytes <= 0:
            return
        rate = self.current_rate()
        if rate is None:
            return
        with self._lock:
            now = self.clock.monotonic()
            self._next = max(self._next, now - self.burst_seconds)
            self._next += nbytes / rate
            wait = self._next - now
        if wait > 0 and self.clock.sleep(wait, cancel):
            raise CancelledError()
