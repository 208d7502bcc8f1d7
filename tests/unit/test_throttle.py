import time

import pytest

from datauploader.core.clock import FakeClock
from datauploader.core.throttle import Throttle, Timetable
from datauploader.units import format_rate, parse_rate


def test_parse_rate():
    assert parse_rate("10M") == 10 * 2**20
    assert parse_rate("512k") == 512 * 1024
    assert parse_rate("1.5MiB/s") == 1.5 * 2**20
    assert parse_rate("off") is None and parse_rate("0") is None
    with pytest.raises(ValueError, match="not a rate"):
        parse_rate("fast")
    assert format_rate(10 * 2**20) == "10M"


def _epoch(weekday, hh, mm):
    # 2024-01-01 was a Monday; local time
    return time.mktime((2024, 1, 1 + weekday, hh, mm, 0, 0, 0, -1))


def test_timetable_by_time_of_day_wraps_around():
    t = Timetable.parse("08:00,512K 18:00,off")
    assert t.rate_at(_epoch(2, 9, 0)) == 512 * 1024
    assert t.rate_at(_epoch(2, 19, 0)) is None
    assert t.rate_at(_epoch(2, 3, 0)) is None  # before 08:00: yesterday's 18:00 slot


def test_timetable_by_weekday():
    t = Timetable.parse("Mon-08:00,2M Sat-00:00,off")
    assert t.rate_at(_epoch(0, 9, 0)) == 2 * 2**20
    assert t.rate_at(_epoch(4, 23, 0)) == 2 * 2**20
    assert t.rate_at(_epoch(5, 1, 0)) is None
    assert t.rate_at(_epoch(6, 23, 59)) is None


@pytest.mark.parametrize("bad", ["25:00,1M", "08:00", "Xyz-08:00,1M", "08:00,lots"])
def test_bad_timetables(bad):
    with pytest.raises(ValueError):
        Timetable.parse(bad)


def test_throttle_keeps_the_average_rate_with_a_fake_clock():
    clock = FakeClock()
    th = Throttle("1M", clock=clock, burst_seconds=0)
    for _ in range(10):
        th.consume(256 * 1024)
    assert clock.monotonic() == pytest.approx(2.5)


def test_unlimited_never_sleeps():
    clock = FakeClock()
    th = Throttle("off", clock=clock)
    th.consume(10**9)
    assert clock.sleeps == []
