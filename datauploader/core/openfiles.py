"""Is a file still open for writing by some process? One of the completeness signals of sync
mode (with the settle time and the optional marker file).

Linux/macOS: psutil lists every process's open files with their mode; only processes we may
inspect are seen (another user's acquisition software is invisible unless we run as root),
which is why the settle time always applies too. Windows: opening the file without sharing
write access fails with a sharing violation while a writer has it open.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

_WRITE_MODES = ("w", "a", "+")


def open_for_writing(paths) -> set[str]:
    """The subset of ``paths`` (absolute, as given) that some process has open for writing."""
    paths = {os.path.abspath(p) for p in paths}
    if not paths:
        return set()
    if sys.platform == "win32":
        return {p for p in paths if _windows_locked(p)}
    return _psutil_writers(paths)


def _psutil_writers(paths: set[str]) -> set[str]:
    import psutil

    real = {os.path.realpath(p): p for p in paths}
    found: set[str] = set()
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue  # we only ever read
        try:
            files = proc.open_files()
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except OSError:
            continue
        for f in files:
            original = real.get(f.path)
            if original is None:
                continue
            mode = getattr(f, "mode", None)
            if mode is None or any(m in mode for m in _WRITE_MODES):
                found.add(original)
    return found


def _windows_locked(path: str) -> bool:  # pragma: no cover - exercised on Windows only
    import ctypes
    from ctypes import wintypes

    GENERIC_READ = 0x80000000
    FILE_SHARE_READ = 0x00000001
    OPEN_EXISTING = 3
    ERROR_SHARING_VIOLATION = 32
    create = ctypes.windll.kernel32.CreateFileW
    create.restype = wintypes.HANDLE
    handle = create(path, GENERIC_READ, FILE_SHARE_READ, None, OPEN_EXISTING, 0, None)
    if handle == wintypes.HANDLE(-1).value:
        return ctypes.GetLastError() == ERROR_SHARING_VIOLATION
    ctypes.windll.kernel32.CloseHandle(handle)
    return False
