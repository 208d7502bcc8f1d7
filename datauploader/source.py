"""Reading a local file exactly once, hashing it on the way, and noticing if it changes.

Change detection: the file's identity (device, inode), size and mtime are taken from the open
descriptor before the first byte is read, and compared at the end with both the descriptor
and the path. A file that grows, shrinks, is rewritten or replaced while it is read raises
``FileChangedError`` and is never recorded as verified.
"""

from __future__ import annotations

import errno
import os

from datauploader.checksums import new_hasher
from datauploader.errors import FileChangedError, SourceFileError


def open_error(path: str, e: OSError) -> SourceFileError:
    if isinstance(e, FileNotFoundError):
        return SourceFileError(f"{path} no longer exists; it was moved or deleted after it was "
                               "added. Put it back or leave it out.")
    if isinstance(e, PermissionError):
        return SourceFileError(f"Cannot read {path}: permission denied. Fix its permissions, "
                               "then resume the job.")
    if isinstance(e, IsADirectoryError):
        return SourceFileError(f"{path} is now a folder, not a file; leave it out.")
    if e.errno == errno.EIO:
        return SourceFileError(f"Cannot read {path}: input/output error (a failing disk or a "
                               "network share that went away). Check the disk, then resume.")
    return SourceFileError(f"Cannot read {path}: {e.strerror or e}.")


class SourceReader:
    """One pass over a file: ``readinto`` feeds the checksum, ``finish`` checks for changes."""

    def __init__(self, path: str, algorithm: str):
        self.path = path
        self.algorithm = algorithm
        self.hasher = new_hasher(algorithm)
        try:
            self._f = open(path, "rb", buffering=0)
        except OSError as e:
            raise open_error(path, e) from e
        st = os.fstat(self._f.fileno())
        self._ident = (st.st_dev, st.st_ino)
        self.size = st.st_size
        self.mtime_ns = st.st_mtime_ns
        self.read_bytes = 0

    def __enter__(self) -> "SourceReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()

    def readinto(self, buf, hash_it: bool = True) -> int:
        """Fill ``buf`` as far as the file allows; returns the number of bytes read."""
        view = memoryview(buf)
        total = 0
        try:
            while total < len(view):
                n = self._f.readinto(view[total:])
                if not n:
                    break
                total += n
        except OSError as e:
            raise open_error(self.path, e) from e
        if total:
            if hash_it:
                self.hasher.update(view[:total])
            self.read_bytes += total
            if self.read_bytes > self.size:
                raise self._changed("it grew while it was read")
        return total

    def skip_hash(self, data) -> None:
        """Hash bytes that were read with ``hash_it=False``, in order."""
        self.hasher.update(data)

    def finish(self) -> str:
        """Check the file did not change; return its checksum (hex)."""
        if self.read_bytes != self.size:
            raise self._changed(f"{self.read_bytes} bytes could be read, {self.size} expected")
        st = os.fstat(self._f.fileno())
        if (st.st_size, st.st_mtime_ns) != (self.size, self.mtime_ns):
            raise self._changed("its size or modification time changed while it was read")
        try:
            pst = os.stat(self.path)
        except OSError:
            raise self._changed("it was moved or deleted while it was read") from None
        if (pst.st_dev, pst.st_ino) != self._ident:
            raise self._changed("it was replaced by another file while it was read")
        return self.hasher.hexdigest()

    def _changed(self, why: str) -> FileChangedError:
        return FileChangedError(
            f"{self.path} changed while it was being read ({why}); it is probably still being "
            "written. It was not recorded as uploaded: resume the job once the file is complete.")
