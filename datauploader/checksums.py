"""Checksum algorithms with one interface, computed while the file is read.

sha256 is the default (it doubles as the SigV4 payload hash for S3). md5, crc32 and adler32
are there for catalogues and storage that speak them (IDS reports CRC32, etiket MD5).
"""

from __future__ import annotations

import hashlib
import zlib

ALGORITHMS = ("sha256", "md5", "crc32", "adler32")
DEFAULT_ALGORITHM = "sha256"


class _ZlibChecksum:
    """crc32/adler32 behind hashlib's update/hexdigest interface."""

    __slots__ = ("name", "_fn", "_value")

    def __init__(self, name: str, fn, initial: int):
        self.name = name
        self._fn = fn
        self._value = initial

    def update(self, data) -> None:
        self._value = self._fn(data, self._value)

    def intdigest(self) -> int:
        return self._value & 0xFFFFFFFF

    def hexdigest(self) -> str:
        return f"{self.intdigest():08x}"

    def copy(self) -> "_ZlibChecksum":
        other = _ZlibChecksum(self.name, self._fn, 0)
        other._value = self._value
        return other


def new_hasher(algorithm: str):
    """Return a fresh hasher with ``update(bytes)`` and ``hexdigest()``."""
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "md5":
        return hashlib.md5(usedforsecurity=False)
    if algorithm == "crc32":
        return _ZlibChecksum("crc32", zlib.crc32, 0)
    if algorithm == "adler32":
        return _ZlibChecksum("adler32", zlib.adler32, 1)
    if algorithm == "sha1":  # what servers state or compute (not a job algorithm)
        return hashlib.sha1(usedforsecurity=False)
    raise ValueError(f"unknown checksum algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


class HashingSink:
    """Receives a download in pieces (``sink(view)``), hashing and counting them; raises
    CancelledError once ``cancel`` is set. ``result()``: (hex checksum, length)."""

    __slots__ = ("_h", "_cancel", "n")

    def __init__(self, algorithm: str, cancel=None):
        self._h = new_hasher(algorithm)
        self._cancel = cancel
        self.n = 0

    def __call__(self, view) -> None:
        if self._cancel is not None and self._cancel.is_set():
            from datauploader.errors import CancelledError
            raise CancelledError()
        self._h.update(view)
        self.n += len(view)

    def result(self) -> tuple[str, int]:
        return self._h.hexdigest(), self.n


def checksum_file(path, algorithm: str = DEFAULT_ALGORITHM, chunk_size: int = 1 << 20,
                  cancel=None) -> tuple[str, int]:
    """Checksum of a whole file and its length, read in chunks (memory stays flat)."""
    h = new_hasher(algorithm)
    n = 0
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            if cancel is not None and cancel.is_set():
                from datauploader.errors import CancelledError
                raise CancelledError()
            got = f.readinto(buf)
            if not got:
                break
            h.update(view[:got])
            n += got
    return h.hexdigest(), n


def normalize(checksum: str, algorithm: str) -> str:
    """Canonical form for comparisons: lowercase hex, crc32/adler32 zero-padded to 8 digits."""
    value = checksum.strip().lower()
    if algorithm in ("crc32", "adler32"):
        value = value.rjust(8, "0")
    return value
