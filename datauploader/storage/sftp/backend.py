"""SFTPStorage: resumable uploads to an SFTP server that never overwrite a file.

* **Upload** goes to ``.<name>.du-<job>-<task>.part`` next to the target (the same temporary
  names as the filesystem backend), with the pipelined requests of ``wire``: OPEN; the WRITEs
  (255 KiB each where the server takes them), CLOSE and a STAT of the temporary file (and of
  the target where the rename may replace) in one send; RENAME: three round trips for a small
  file. A large file is read once in 1 MiB chunks, hashed on helper threads while it is sent,
  with up to 8 MiB of writes unacknowledged.
* **Resume**: a temporary file of ours left by a crash or a dropped connection is continued:
  the local prefix is re-read (the checksum needs every byte) and, where the server allows a
  checksum command, compared with the remote partial; then only the rest is appended. A
  partial that cannot be proven (or reopened) is started afresh, never trusted blindly: the
  final verification covers the whole file either way (by the server's checksum, else by
  reading it back).
* **Verification**: always the size the server reports for the closed temporary file (from
  the STAT sent with the CLOSE, so it costs no round trip); for files from 8 MiB also a
  checksum computed by the server where remote commands are allowed (``checksums``).
  ``verify = checksum`` asks the server for every file, ``reread`` reads every file back,
  ``size`` checks sizes only.
* **Never overwrite**: the temporary file is moved with the plain SFTP rename, which OpenSSH
  implements with link(2) and so refuses an existing name; on other servers (whose rename
  may replace, as ``rclone serve sftp``'s does) the target is stat'ed first.
  ``posix-rename@openssh.com`` is deliberately not used: it replaces an existing target.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import stat as statmod
import threading
from collections.abc import Callable

from datauploader import proofs
from datauploader.checksums import HashingSink, new_hasher
from datauploader.errors import (CancelledError, FileChangedError, RemoteExistsError,
                                 UnsafeKeyError, UserFacingError, VerificationError)
from datauploader.names import RULES
from datauploader.options import Option, SecretSlot, keyring_service
from datauploader.proofs import Proof
from datauploader.storage.base import (ChecksHostKey, RemoteObject, StorageBackend, TransferContext,
                                       TransferItem, UploadResult, other_content)
from datauploader.storage.fastio import hashed_chunks
from datauploader.storage.sftp.checksums import RemoteChecksums
from datauploader.storage.sftp.hostkeys import KnownHosts, user_known_hosts
from datauploader.storage.sftp.transport import CONNECTION_ERRORS, Connection, SSHConnections
from datauploader.storage.sftp.wire import (FXF_CREAT, FXF_EXCL, FXF_READ, FXF_TRUNC, FXF_WRITE,
                                            WireError, read_pipelined)
from datauploader.storage.tempnames import is_temp, temp_name

log = logging.getLogger(__name__)

MiB = 1 << 20
CHUNK = MiB
SMALL_FILE = MiB  # read whole, then written, closed and stat'ed in one send
UNACKED = 8 * MiB  # written and not yet acknowledged by the server, at most


class _Restart(Exception):
    """The partial temporary file cannot be continued: start this file afresh."""


class SFTPStorage(StorageBackend, ChecksHostKey):
    kind = "sftp"
    OPTIONS = (
        Option("host", "SFTP server name or address", required=True),
        Option("port", "SSH port", default=22, type=int),
        Option("username", "user name on the server", required=True),
        Option("path", "folder on the server that receives the files (absolute, or relative "
               "to the login folder)", default="."),
        Option("prefix", "template of the folder for each dataset under 'path'",
               default="{proposal}/{dataset}"),
        Option("key_file", "private key file (its passphrase, if any, comes from the OS "
               "keyring or DATAUPLOADER_SFTP_PASSPHRASE)", default=""),
        Option("use_agent", "also offer the keys of a running SSH agent (ssh-agent, Pageant)",
               default=True, type=bool),
        Option("known_hosts", "an extra known_hosts file to trust (e.g. one deployed by the "
               "facility); ~/.ssh/known_hosts and DataUploader's own file are always read",
               default=""),
        Option("verify", "auto: the size the server reports, and its checksum command for "
               "files from 8 MiB where the server allows one; checksum: the size and a server "
               "checksum for every file where allowed; reread: read every file back; size: the "
               "size only", default="auto", choices=("auto", "checksum", "reread", "size")),
        Option("remote_checksum", "checksum command on the server: auto (sha1sum, the "
               "fastest on OpenSSH; md5sum on rclone serve sftp, which has the MD5 already), "
               "sha1, sha256, md5, or off",
               default="auto", choices=("auto", "sha1", "sha256", "md5", "off")),
        Option("names", "file-name rules of the server: posix, windows, or portable",
               default="posix", choices=("posix", "windows", "portable")),
        Option("connect_timeout", "seconds to wait for the server", default=20.0, type=float),
        Option("password", "never here: OS keyring or DATAUPLOADER_SFTP_PASSWORD", secret=True),
        Option("passphrase", "never here: OS keyring or DATAUPLOADER_SFTP_PASSPHRASE",
               secret=True),
    )

    def __init__(self, host: str, username: str, port: int = 22, path: str = ".",
                 prefix: str = "{proposal}/{dataset}", key_file: str = "", use_agent: bool = True,
                 known_hosts: KnownHosts | str = "", verify: str = "auto",
                 remote_checksum: str = "auto", names: str = "posix",
                 connect_timeout: float = 20.0, password: str | None = None,
                 passphrase: str | Callable[[], str | None] | None = None,
                 storage_name: str | None = None):
        self.host = host
        self.port = int(port)
        self.username = username
        root = (path or ".").rstrip("/") or "/"
        self.root = root
        self._abs_root: str | None = root if root.startswith("/") else None
        self.prefix_template = prefix
        if not isinstance(known_hosts, KnownHosts):  # from_config builds it from the paths
            raise TypeError("SFTPStorage needs the KnownHosts to check the server against")
        self.verify_mode = verify
        self.name_rules = RULES[names]
        self.storage_name = storage_name
        self._ssh = SSHConnections(
            host, self.port, username, known_hosts,
            key_file=os.path.expanduser(key_file) if key_file else "", use_agent=use_agent,
            password=password, passphrase=passphrase, connect_timeout=float(connect_timeout),
            storage_name=storage_name, on_connect=self._resolve_root)
        self._checksums = RemoteChecksums(self._ssh, remote_checksum, verify)
        self._lock = threading.Lock()
        self._dirs: set[str] = set()  # folders known to exist

    # -- construction from the configuration -----------------------------------------------
    @classmethod
    def secret_slot(cls, options: dict, section: str) -> SecretSlot:
        """A key file's passphrase if a key is configured, else the account's password."""
        endpoint = f"{options['host']}:{options.get('port', 22)}"
        user = options["username"]
        if options.get("key_file"):
            return SecretSlot(keyring_service("sftp", endpoint), user,
                              f"Passphrase of the key {options['key_file']}",
                              f"the key {options['key_file']} of {user} at {endpoint}")
        return SecretSlot(keyring_service("sftp", endpoint), user,
                          f"Password for {user} at {endpoint}", f"{user} at {endpoint}")

    @classmethod
    def from_config(cls, options: dict, ctx) -> "SFTPStorage":
        options = dict(options)
        options.pop("password", None)
        options.pop("passphrase", None)
        slot = cls.secret_slot(options, ctx.section)
        if options.get("key_file"):
            # the keyring is asked only if the key turns out to need a passphrase: asking
            # costs every start 30 ms (its import, a D-Bus round trip) for nothing otherwise
            def passphrase():
                return (ctx.secrets.get(slot.service, slot.user) or
                        ctx.env.get("DATAUPLOADER_SFTP_PASSPHRASE") or None)
            password = ctx.env.get("DATAUPLOADER_SFTP_PASSWORD") or None
        else:
            passphrase = ctx.env.get("DATAUPLOADER_SFTP_PASSPHRASE") or None
            password = (ctx.secrets.get(slot.service, slot.user) or
                        ctx.env.get("DATAUPLOADER_SFTP_PASSWORD") or None)
        read = [user_known_hosts(ctx.env)]
        if options.get("known_hosts"):
            read.append(os.path.expanduser(options["known_hosts"]))
        options["known_hosts"] = KnownHosts(os.path.join(ctx.paths.config_dir, "known_hosts"),
                                            tuple(read))
        return cls(**options, password=password, passphrase=passphrase,
                   storage_name=ctx.section)

    # -- connections ------------------------------------------------------------------------
    @property
    def _where(self) -> str:
        return self._ssh.where

    def _resolve_root(self, conn: Connection) -> None:
        """On the first connection: the configured folder as an absolute path (locations)."""
        if self._abs_root is None:
            try:
                self._abs_root = conn.sftp.normalize(self.root)
            except IOError:
                pass  # reported by check()

    def check_host_key(self) -> None:
        """Connect just far enough to see the server's key; raise HostKeyUnknownError or
        HostKeyChangedError if it is not trusted (front-ends call this before a job)."""
        self._ssh.check_host_key()

    def interrupt(self) -> None:
        self._ssh.close()  # every worker's SSH connection: blocked reads end at once

    def close(self) -> None:
        self._ssh.close()

    # -- paths ------------------------------------------------------------------------------
    def _remote(self, key: str) -> str:
        parts = [p for p in key.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise UnsafeKeyError(f"The remote key '{key}' would escape the storage folder.")
        return posixpath.join(self.root, *parts) if parts else self.root

    def _size(self, conn: Connection, path: str) -> int | None:
        try:
            return conn.sftp.stat(path).st_size
        except IOError as e:
            if getattr(e, "errno", None) == errno.ENOENT and conn.transport.is_active():
                return None
            raise self._ssh.failure(conn, e, path, "reading the size of") from e

    def _ensure_dirs(self, conn: Connection, folder: str) -> None:
        if folder in self._dirs or folder in ("", ".", "/", self.root):
            return
        parent = posixpath.dirname(folder)
        if parent != folder:
            self._ensure_dirs(conn, parent)
        try:
            conn.sftp.mkdir(folder)
        except IOError as e:
            if not conn.transport.is_active():
                raise self._ssh.failure(conn, e, folder, "creating") from e
            try:  # exists already (made by another worker, or earlier)?
                st = conn.sftp.stat(folder)
            except IOError:
                raise self._ssh.failure(conn, e, folder, "creating") from e
            if not statmod.S_ISDIR(st.st_mode or 0):
                raise RemoteExistsError(f"{folder} exists on the SFTP server {self._where} and is "
                                        "not a folder; nothing was overwritten.") from None
        with self._lock:
            self._dirs.add(folder)

    def _remove(self, conn: Connection, path: str) -> None:
        try:
            conn.sftp.remove(path)
        except IOError:
            pass  # gone already, or the next attempt starts it afresh

    # -- StorageBackend ---------------------------------------------------------------------
    def describe(self) -> str:
        # stable across runs (the journal compares it): the configured root, not a resolved one
        root = self.root if self.root.startswith("/") else \
            "/~" + ("" if self.root == "." else "/" + self.root)
        return f"sftp://{self.username}@{self._where}{root}"

    def location(self, key: str) -> str:
        root = self._abs_root or self.root
        port = "" if self.port == 22 else f":{self.port}"
        path = posixpath.join(root, *[p for p in key.split("/") if p])
        return f"sftp://{self.host}{port}{path if path.startswith('/') else '/' + path}"

    def exclusive_writes(self) -> bool:
        """OpenSSH's rename refuses an existing name (link(2)): of two uploads racing on one
        name only one can place its file. Other servers' renames may replace."""
        return self._ssh.get().rename_refuses_existing

    def check(self) -> None:
        conn = self._ssh.get()
        try:
            st = conn.sftp.stat(self.root)
        except IOError as e:
            if getattr(e, "errno", None) == errno.ENOENT and conn.transport.is_active():
                raise UserFacingError(
                    f"The folder {self.root} does not exist on the SFTP server {self._where}; "
                    "create it or fix 'path' in the storage configuration.") from None
            raise self._ssh.failure(conn, e, self.root, "opening") from e
        if not statmod.S_ISDIR(st.st_mode or 0):
            raise UserFacingError(f"{self.root} on the SFTP server {self._where} is not a "
                                  "folder; fix 'path' in the storage configuration.")

    def stat(self, key: str) -> RemoteObject | None:
        conn = self._ssh.get()
        size = self._size(conn, self._remote(key))
        return None if size is None else RemoteObject(key=key, size=size)

    def existing(self, prefix: str) -> dict[str, RemoteObject]:
        conn = self._ssh.get()
        found: dict[str, RemoteObject] = {}
        todo = [prefix.strip("/")]
        while todo:
            rel = todo.pop()
            path = self._remote(rel) if rel else self.root
            try:
                entries = conn.sftp.listdir_attr(path)
            except IOError as e:
                if getattr(e, "errno", None) == errno.ENOENT and conn.transport.is_active():
                    continue
                raise self._ssh.failure(conn, e, path, "listing") from e
            for a in entries:
                key = f"{rel}/{a.filename}" if rel else a.filename
                if statmod.S_ISDIR(a.st_mode or 0):
                    todo.append(key)
                elif not is_temp(a.filename):
                    found[key] = RemoteObject(key=key, size=a.st_size or 0)
        return found

    def upload(self, item: TransferItem, ctx: TransferContext) -> UploadResult:
        conn = self._ssh.get()
        target = self._remote(item.key)
        temp = self._remote(temp_name(item))
        try:
            # (the job's listing saw that the target is free; _place looks again)
            self._ensure_dirs(conn, posixpath.dirname(target))
            try:
                return self._send(conn, item, ctx, target, temp, resume=True)
            except _Restart as why:
                log.info("starting %s afresh: %s", item.key, why)
                self._remove(conn, temp)
            try:
                return self._send(conn, item, ctx, target, temp, resume=False)
            except _Restart as why:
                raise VerificationError(f"{self.location(item.key)} could not be written "
                                        f"correctly: {why}.") from None
        except WireError as e:
            self._ssh.drop(conn)
            raise self._ssh.unreachable(e, connecting=False) from e
        except (*CONNECTION_ERRORS, OSError) as e:
            raise self._ssh.failure(conn, e, target, "writing") from e

    def _open_temp(self, conn: Connection, temp: str, resume: bool):
        """(handle, 0) for a fresh temporary file, or (None, size) for a partial one of ours
        left by an earlier attempt (one request in the common case: O_EXCL)."""
        wire = conn.wire
        flags = FXF_WRITE | FXF_CREAT | FXF_TRUNC | (FXF_EXCL if resume else 0)
        rid = wire.open(temp.encode("utf-8"), flags)
        wire.flush()
        handle, e = wire.handle(rid)
        if handle is not None:
            return handle, 0
        if not resume or not conn.transport.is_active():
            raise self._ssh.failure(conn, e, temp, "creating") from e
        size = self._size(conn, temp)
        if size is None:
            raise self._ssh.failure(conn, e, temp, "creating") from e
        return None, size

    def _send(self, conn: Connection, item: TransferItem, ctx: TransferContext, target: str,
              temp: str, resume: bool) -> UploadResult:
        handle, offset = self._open_temp(conn, temp, resume)
        with ctx.open_source(item) as src:
            if offset > src.size:
                raise _Restart("the partial file on the server is longer than the file")
            ralg = self._checksums.choose(item.algorithm, src.size, resuming=offset > 0,
                                          rclone=conn.is_rclone)
            extra = new_hasher(ralg) if ralg and ralg != item.algorithm else None
            if offset:
                self._rehash_prefix(conn, src, ctx, temp, offset, ralg, extra)
                wire = conn.wire
                rid = wire.open(temp.encode("utf-8"), FXF_READ | FXF_WRITE)
                wire.flush()
                handle, e = wire.handle(rid)
                if handle is None:
                    if conn.transport.is_active():
                        raise _Restart(f"the partial file cannot be reopened ({e})")
                    raise self._ssh.failure(conn, e, temp, "reopening") from e
                ctx.resumed(offset)  # progress: the part already there counts as done
            try:
                try:
                    checksum, size, remote_size, target_free = self._write(
                        conn, src, ctx, handle, offset, temp, target, extra,
                        stat_target=not conn.rename_refuses_existing and not ralg)
                except BaseException:
                    self._abandon(conn, handle)
                    raise
                verified = self._verify(conn, temp, size, remote_size, checksum,
                                        item.algorithm,
                                        extra.hexdigest() if extra is not None else None, ralg,
                                        resumed=offset > 0, cancel=ctx.cancel)
            except _Restart:
                ctx.resumed(-offset)  # sent again from the start
                raise
        self._place(conn, temp, target, item, target_free)
        if offset:
            verified = proofs.resumed_at(verified, offset)
        return UploadResult(size=size, checksum=checksum, location=self.location(item.key),
                            verified_by=verified)

    def _rehash_prefix(self, conn: Connection, src, ctx: TransferContext, temp: str,
                       offset: int, ralg: str | None, extra) -> None:
        """Read (and hash) the part of the file an earlier attempt left on the server; where
        the server can checksum, prove that part is the same."""
        buf = bytearray(min(CHUNK, offset))
        view = memoryview(buf)
        left = offset
        while left:  # the part already on the server: hash it, do not send it
            n = src.readinto(view[:min(len(buf), left)])
            if not n:
                raise FileChangedError(f"{src.path} shrank since it was partly uploaded; it is "
                                       "probably still being written.")
            if extra is not None:
                extra.update(view[:n])
            left -= n
            if ctx.cancel.is_set():
                raise CancelledError()
        if ralg:
            want = (extra if extra is not None else src.hasher).copy().hexdigest()
            got = self._checksums.run(conn, temp, ralg, offset)
            if got is not None and got != want:
                raise _Restart("the partial file on the server differs from the file")

    def _write(self, conn: Connection, src, ctx: TransferContext, handle: bytes, offset: int,
               temp: str, target: str, extra, stat_target: bool):
        """Send the rest of the file from ``offset`` in pipelined WRITEs, then CLOSE and STAT
        the temporary file (and STAT the target where the rename may replace) in the same
        send; returns (checksum, size, the size the server reports, target free?)."""
        wire = conn.wire
        step = conn.write_size
        left = src.size - offset
        at = offset
        writes: list[int] = []
        if left <= SMALL_FILE:  # read whole: a file that changes is not sent at all
            body = bytearray(left)
            if src.readinto(body) != left:
                raise FileChangedError(f"{src.path} shrank while it was read; it is probably "
                                       "still being written.")
            if extra is not None:
                extra.update(body)
            checksum = src.finish()
            ctx.sent(left)
            view = memoryview(body)
            for i in range(0, left, step):
                writes.append(wire.write(handle, at + i, view[i:i + step]))
        else:
            for piece in hashed_chunks(src, {"extra": extra} if extra is not None else {},
                                       ctx, left):
                for i in range(0, len(piece), step):
                    part = piece[i:i + step]
                    writes.append(wire.write(handle, at, part))
                    at += len(part)
                wire.flush()
                while wire.unacked > UNACKED:  # the server keeps up: read its answers
                    e = wire.status(writes[0])
                    del writes[0]
                    if e is not None:
                        raise self._ssh.failure(conn, e, temp, "writing") from e
            checksum = src.finish()
        close_id = wire.close(handle)
        stat_id = wire.stat(temp.encode("utf-8"))
        target_id = wire.stat(target.encode("utf-8")) if stat_target else None
        wire.flush()
        # every answer is read before any is acted upon: the stream stays in step
        errors = [wire.status(w) for w in writes]
        errors.append(wire.status(close_id))
        remote_size, stat_error = wire.size(stat_id)
        target_free = None
        if target_id is not None:
            target_size, target_error = wire.size(target_id)
            target_free = target_size is None and isinstance(target_error, FileNotFoundError)
        for e in errors + [stat_error]:
            if e is not None:
                raise self._ssh.failure(conn, e, temp, "writing") from e
        return checksum, src.read_bytes, remote_size, target_free

    def _abandon(self, conn: Connection, handle: bytes | None) -> None:
        """After an error mid-transfer: read what is outstanding and close the file, so that
        the connection can go on; if that fails too, drop the connection."""
        wire = conn.wire
        if not wire.busy and handle is None:
            return
        try:
            wire.discard_unsent()
            if handle is not None:
                wire.close(handle)
                wire.flush()
            wire.drain()
        except Exception:  # noqa: BLE001 - the connection is broken anyway
            self._ssh.drop(conn)

    def _verify(self, conn: Connection, temp: str, size: int, remote_size: int, checksum: str,
                algorithm: str, extra_hex: str | None, ralg: str | None, resumed: bool,
                cancel) -> str:
        """The size the server reports is always checked; then the server's checksum
        command where one was chosen, or reading back (verify = reread, or a resumed file
        whose first part the server cannot checksum)."""
        def mismatch(why: str):
            if resumed:  # the partial we continued was not what we thought: start afresh
                raise _Restart(why)
            raise VerificationError(f"After uploading, {why}; the server did not keep what "
                                    "was sent.")

        if remote_size != size:
            mismatch(f"the SFTP server reports {remote_size} bytes for {temp}, {size} were sent")
        if ralg:
            got = self._checksums.run(conn, temp, ralg, size)
            if got is not None:
                want = checksum if ralg == algorithm else extra_hex
                if got != want:
                    mismatch(f"the server's {ralg} of {temp} is {got}, {want} was sent")
                return proofs.both(Proof.SIZE, proofs.server_hash(ralg))
        if self.verify_mode == "reread" or resumed:
            got, n = self._read_back(conn, temp, algorithm, cancel, size)
            if n != size:
                mismatch(f"the SFTP server holds {n} bytes in {temp}, {size} were sent")
            if got != checksum:
                mismatch(f"reading {temp} back gave {algorithm} {got}, {checksum} was sent")
            return proofs.reread(algorithm)
        return Proof.SIZE

    def _place(self, conn: Connection, temp: str, target: str, item: TransferItem,
               target_free: bool | None) -> None:
        """Rename into place, never over an existing file: OpenSSH's rename refuses one
        (link(2)); elsewhere the target was stat'ed just before (``target_free``, from the
        batch that closed the file, or here)."""
        if not conn.rename_refuses_existing:
            if target_free is None:
                target_free = self._size(conn, target) is None
            if not target_free:
                raise RemoteExistsError(f"{self.location(item.key)} appeared while it was "
                                        "being uploaded; it was not overwritten.")
        wire = conn.wire
        rid = wire.rename(temp.encode("utf-8"), target.encode("utf-8"))
        wire.flush()
        e = wire.status(rid)
        if e is not None:
            if conn.transport.is_active() and self._size(conn, target) is not None:
                raise RemoteExistsError(f"{self.location(item.key)} appeared while it was being "
                                        "uploaded; it was not overwritten.") from None
            raise self._ssh.failure(conn, e, target, "moving into place") from e

    def _read_back(self, conn: Connection, path: str, algorithm: str,
                   cancel: threading.Event | None, size: int | None = None) -> tuple[str, int]:
        """(checksum, length) of the remote file; ``size``, when known, saves a stat."""
        take = HashingSink(algorithm, cancel)
        try:
            with conn.sftp.open(path, "rb", bufsize=0) as f:
                if size is None:
                    size = f.stat().st_size
                room = conn.sftp.sock.out_max_packet_size - 128
                n = read_pipelined(conn.sftp, f.handle, size, take,
                                   step=max(4096, min(32768, room)))
        except (*CONNECTION_ERRORS, OSError) as e:
            raise self._ssh.failure(conn, e, path, "reading back") from e
        return take.result()[0], n

    def adopt(self, item: TransferItem, remote: RemoteObject, ctx: TransferContext) -> UploadResult:
        conn = self._ssh.get()
        target = self._remote(item.key)
        where = self.location(item.key)
        with ctx.open_source(item) as src:
            ralg = self._checksums.choose(item.algorithm, src.size, resuming=False,
                                          rclone=conn.is_rclone)
            extra = new_hasher(ralg) if ralg and ralg != item.algorithm else None
            buf = bytearray(CHUNK)
            while True:
                n = src.readinto(buf)
                if not n:
                    break
                if extra is not None:
                    extra.update(memoryview(buf)[:n])
                if ctx.cancel.is_set():
                    raise CancelledError()
            checksum = src.finish()
            size = src.read_bytes
        if remote.size != size:
            raise other_content(where, f"{remote.size} bytes, the local file has {size}")
        how = None
        if ralg:
            got = self._checksums.run(conn, target, ralg, size)
            if got is not None:
                if got != (checksum if ralg == item.algorithm else extra.hexdigest()):
                    raise other_content(where, f"its {ralg} differs")
                how = proofs.server_hash(ralg)
        if how is None:
            got, n = self._read_back(conn, target, item.algorithm, ctx.cancel, size)
            if (got, n) != (checksum, size):
                raise other_content(where, f"its {item.algorithm} differs")
            how = proofs.reread(item.algorithm)
        return UploadResult(size=size, checksum=checksum, location=where,
                            verified_by=proofs.already_present(how), skipped=True)

    def read_checksum(self, key: str, algorithm: str,
                      cancel: threading.Event | None = None) -> tuple[str, int]:
        conn = self._ssh.get()
        return self._read_back(conn, self._remote(key), algorithm, cancel)

    def cleanup_task(self, item: TransferItem, ctx: TransferContext) -> None:
        conn = self._ssh.get()
        self._remove(conn, self._remote(temp_name(item)))
