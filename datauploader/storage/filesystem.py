"""Filesystem storage: a local folder or a mounted network share.

Each file is written under a temporary name in its target folder, fsynced, verified by reading
it back, then moved into place without ever replacing an existing file: a hard link (which
fails if the name exists) where the filesystem has them, otherwise a rename after a check
(Windows' rename refuses existing names by itself).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading

from datauploader import proofs
from datauploader.checksums import checksum_file
from datauploader.errors import (RemoteExistsError, StorageFullError, UserFacingError,
                                 VerificationError)
from datauploader.names import RULES
from datauploader.options import Option
from datauploader.proofs import Proof
from datauploader.storage.base import (RemoteObject, StorageBackend, TransferContext, TransferItem,
                                       UploadResult, other_content)
from datauploader.storage.tempnames import is_temp, temp_name

CHUNK = 1 << 20
def _full_error(path: str, e: OSError) -> StorageFullError:
    return StorageFullError(f"The storage folder has no space left (or your quota is used up) "
                            f"while writing {path}. Free some space, then resume the job.")


class FilesystemStorage(StorageBackend):
    kind = "filesystem"
    OPTIONS = (
        Option("path", "folder (or mounted share) that receives the files", required=True),
        Option("prefix", "template of the folder for each dataset under 'path'",
               default="{proposal}/{dataset}"),
        Option("names", "file-name rules of the target: posix, windows, or portable (valid "
               "everywhere)", default="windows" if sys.platform == "win32" else "posix",
               choices=("posix", "windows", "portable")),
        Option("verify", "after writing, read the file back and compare its checksum (reread) "
               "or only its size (size)", default="reread", choices=("reread", "size")),
        Option("location_base", "how the catalogue should record the folder (e.g. the share's "
               "canonical path), if different from 'path'", default=""),
    )

    def __init__(self, path: str, prefix: str = "{proposal}/{dataset}", names: str | None = None,
                 verify: str = "reread", location_base: str = ""):
        self.root = os.path.abspath(os.path.expanduser(path))
        self._links: bool | None = None  # hard links work in the root (exclusive_writes)
        self.prefix_template = prefix
        self.name_rules = RULES[names or ("windows" if sys.platform == "win32" else "posix")]
        self.verify_mode = verify
        self.location_base = location_base.rstrip("/\\")

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def describe(self) -> str:
        return f"folder {self.root}"

    def check(self) -> None:
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as e:
            raise UserFacingError(f"Cannot create the storage folder {self.root}: "
                                  f"{e.strerror or e}. Check the path and its permissions.") from e
        if not os.access(self.root, os.W_OK):
            raise UserFacingError(f"The storage folder {self.root} is not writable for you; "
                                  "ask for write access or choose another folder.")

    def location(self, key: str) -> str:
        if self.location_base:
            return f"{self.location_base}/{key}"
        return self._path(key)

    def existing(self, prefix: str) -> dict[str, RemoteObject]:
        found: dict[str, RemoteObject] = {}
        top = self._path(prefix) if prefix else self.root
        for dirpath, dirnames, filenames in os.walk(top):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for name in filenames:
                if is_temp(name):
                    continue
                key = name if rel == "." else f"{rel}/{name}"
                try:
                    size = os.stat(os.path.join(dirpath, name)).st_size
                except OSError:
                    continue
                found[key] = RemoteObject(key=key, size=size)
        return found

    def stat(self, key: str) -> RemoteObject | None:
        try:
            st = os.stat(self._path(key))
        except FileNotFoundError:
            return None
        return RemoteObject(key=key, size=st.st_size)

    def upload(self, item: TransferItem, ctx: TransferContext) -> UploadResult:
        target = self._path(item.key)
        temp = self._path(temp_name(item))
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
        except OSError as e:
            if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
                raise _full_error(target, e) from e
            raise UserFacingError(f"Cannot create the folder {os.path.dirname(target)}: "
                                  f"{e.strerror or e}.") from e
        if os.path.lexists(target):
            raise RemoteExistsError(f"{target} already exists; it was not overwritten.")
        self._remove_temp(temp)
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        with ctx.open_source(item) as src:
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                             0o644)
            except OSError as e:
                raise self._write_error(temp, e) from e
            try:
                with os.fdopen(fd, "wb", buffering=0) as out:
                    while True:
                        n = src.readinto(buf)
                        if not n:
                            break
                        ctx.sent(n)
                        try:
                            out.write(view[:n])
                        except OSError as e:
                            raise self._write_error(temp, e) from e
                    out.flush()
                    os.fsync(out.fileno())
                checksum = src.finish()
                size = src.read_bytes
                verified_by = self._verify(temp, size, checksum, item.algorithm, ctx)
                self._place(temp, target)
            except BaseException:
                self._remove_temp(temp)
                raise
        return UploadResult(size=size, checksum=checksum, location=self.location(item.key),
                            verified_by=verified_by)

    def _verify(self, temp: str, size: int, checksum: str, algorithm: str, ctx) -> str:
        actual_size = os.stat(temp).st_size
        if actual_size != size:
            raise VerificationError(f"{temp} has {actual_size} bytes after writing, {size} were "
                                    "written; the storage is not keeping what it is given.")
        if self.verify_mode == "size":
            return Proof.SIZE
        got, _ = checksum_file(temp, algorithm, cancel=ctx.cancel)
        if got != checksum:
            raise VerificationError(f"Reading {temp} back gave {algorithm} {got}, but {checksum} "
                                    "was written; the storage corrupted the data.")
        return proofs.reread(algorithm)

    def _place(self, temp: str, target: str) -> None:
        try:
            os.link(temp, target)
        except FileExistsError:
            raise RemoteExistsError(f"{target} appeared while it was being uploaded; it was not "
                                    "overwritten.") from None
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                               errno.EMLINK, errno.EACCES, errno.ENOSYS):
                raise
            # no hard links here (SMB, FAT, some FUSE): check, then rename. Windows' rename
            # refuses an existing target by itself; elsewhere the window is tiny.
            if os.path.lexists(target):
                raise RemoteExistsError(f"{target} appeared while it was being uploaded; it was "
                                        "not overwritten.") from None
            os.rename(temp, target)
        else:
            os.unlink(temp)
        if hasattr(os, "O_DIRECTORY"):
            try:
                dfd = os.open(os.path.dirname(target), os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
            except OSError:
                pass  # not all filesystems let a directory be fsynced

    def _write_error(self, path: str, e: OSError) -> Exception:
        if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return _full_error(path, e)
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return UserFacingError(f"Cannot write {path}: {e.strerror}. Check that the storage "
                                   "folder is writable.")
        return e

    @staticmethod
    def _remove_temp(temp: str) -> None:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        except OSError:
            pass  # best effort; the next attempt uses O_EXCL after trying again

    def adopt(self, item: TransferItem, remote: RemoteObject, ctx: TransferContext) -> UploadResult:
        target = self._path(item.key)
        buf = bytearray(CHUNK)
        with ctx.open_source(item) as src:
            while src.readinto(buf):
                pass
            checksum = src.finish()
            size = src.read_bytes
        if size != remote.size:
            raise other_content(target, f"{remote.size} bytes, the local file has {size}")
        theirs, _ = checksum_file(target, item.algorithm, cancel=ctx.cancel)
        if theirs != checksum:
            raise other_content(target, f"its {item.algorithm} differs")
        return UploadResult(size=size, checksum=checksum, location=self.location(item.key),
                            verified_by=proofs.compared(item.algorithm), skipped=True)

    def read_checksum(self, key: str, algorithm: str,
                      cancel: threading.Event | None = None) -> tuple[str, int]:
        return checksum_file(self._path(key), algorithm, cancel=cancel)

    def exclusive_writes(self) -> bool:
        """Files are moved into place with a hard link, which fails if the name exists, or on
        Windows with a rename, which refuses an existing name. Without links elsewhere (SMB,
        FAT, some FUSE) the check before the rename leaves a window: not exclusive. Learnt
        once, with a link of a probe file of our own in the root folder."""
        if sys.platform == "win32":
            return True
        if self._links is None:
            probe = os.path.join(self.root, f".datauploader-probe-{os.getpid()}-{id(self)}")
            try:
                with open(probe, "wb"):
                    pass
                try:
                    os.link(probe, probe + ".link")
                    os.unlink(probe + ".link")
                    self._links = True
                except OSError:
                    self._links = False
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(probe)
        return self._links

    def cleanup_task(self, item: TransferItem, ctx: TransferContext) -> None:
        self._remove_temp(self._path(temp_name(item)))
