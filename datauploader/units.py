"""Sizes, rates, durations and times: one grammar to read them, one way to show them.

Sizes and rates use binary multiples, as rclone and the operators' tools do: ``512K``,
``8M``, ``1.5G``, ``2T``; an optional ``i``/``B`` (``8MiB``, ``8MB``) and, for rates, ``/s``
are accepted. A bare number is bytes.
"""

from __future__ import annotations

import datetime as dt
import re

_MULT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?")
_OFF = ("off", "0", "", "none", "unlimited")


def parse_size(text: str) -> int:
    """'8M' → 8388608 bytes; raises ValueError with a plain reason."""
    m = _QUANTITY.fullmatch(text.strip().lower())
    if not m:
        raise ValueError(f"'{text.strip()}' is not a size (write e.g. 8M)")
    return int(float(m.group(1)) * _MULT[m.group(2)])


def parse_rate(text: str) -> float | None:
    """'10M' → 10485760.0 bytes/s; 'off' → None (unlimited)."""
    t = text.strip().lower()
    if t in _OFF:
        return None
    m = _QUANTITY.fullmatch(t.removesuffix("/s").rstrip())
    if not m:
        raise ValueError(f"'{text}' is not a rate; write e.g. 512K, 10M or off")
    value = float(m.group(1)) * _MULT[m.group(2)]
    return value or None


def format_rate(rate: float | None) -> str:
    """The inverse of ``parse_rate`` ("10M", "off")."""
    if rate is None:
        return "off"
    for suffix, mult in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if rate >= mult:
            return f"{rate / mult:g}{suffix}"
    return f"{rate:g}"


def parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "yes", "true", "on"):
        return True
    if t in ("0", "no", "false", "off"):
        return False
    raise ValueError(f"'{text.strip()}' is not yes or no")


def human_bytes(n: float) -> str:
    """1536 → '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_duration(s: float) -> str:
    """75 → '1:15', 3725 → '1:02:05'."""
    s = int(max(0, s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def human_rate(bytes_per_second: float) -> str:
    """1572864 → '1.5 MiB/s'."""
    return f"{human_bytes(bytes_per_second)}/s"


def iso_time(ts: float | None) -> str | None:
    """A time for documents (``--json``, reports): ISO 8601 in UTC, with its offset."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def local_time(ts: float | None, seconds: bool = False) -> str:
    """A time for people, on this computer's clock: '2024-05-01 14:03' ('-' for none)."""
    if not ts:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))
