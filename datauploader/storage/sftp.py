"""SFTP storage (paramiko): one SSH connection per worker thread, resumable, never overwriting.

* **Host keys** are checked against the known_hosts files before any credential is offered
  (``hostkeys.py``): an unknown key is a question for the user, a changed key a loud error.
* **Upload** goes to ``.<name>.du-<job>-<task>.part`` next to the target (the same temporary
  names as the filesystem backend), in pipelined writes from 1 MiB chunks read once.
* **Resume**: a temporary file of ours left by a crash or a dropped connection is continued:
  the local prefix is re-read (the checksum needs every byte) and, where the server allows a
  checksum command, compared with the remote partial; then only the rest is appended. A
  partial that cannot be proven (or reopened) is started afresh, never trusted blindly: the
  final verification covers the whole file either way.
* **Verification**: the size (stat) and a checksum computed by the server (``sha256sum``/
  ``md5sum``, where remote commands are allowed: OpenSSH with a shell, ``rclone serve sftp``);
  otherwise the temporary file is read back and hashed, which also gives its size. Where a
  command turns out to cost a process start on the server (OpenSSH: ~80 ms, more than reading
  a small file back; learnt on the first small file), files under 8 MiB are read back.
* **Never overwrite**: the temporary file is moved with the plain SFTP rename, which OpenSSH
  implements with link(2) and so refuses an existing name; on other servers (whose rename
  may replace, as ``rclone serve sftp``'s does) the target is stat'ed first.
  ``posix-rename@openssh.com`` is deliberately not used: it replaces an existing target.

Secrets (password, key passphrase) come from the OS keyring or the environment
(``DATAUPLOADER_SFTP_PASSWORD``, ``DATAUPLOADER_SFTP_PASSPHRASE``), never from a file; the
private key's *path* may be configured.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import shlex
import socket
import stat as statmod
import threading
import time
from collections import deque

import paramiko

from datauploader.checksums import new_hasher
from datauploader.core.keys import RULES
from datauploader.credentials import service_name
from datauploader.errors import (AuthError, CancelledError, FileChangedError, FileError,
                                 PermissionDeniedError, RemoteExistsError, StorageFullError,
                                 TransientError, UnreachableError, UnsafeKeyError,
                                 UserFacingError, VerificationError)
from datauploader.storage.base import (Option, RemoteObject, StorageBackend, TransferContext,
                                       TransferItem, UploadResult)
from datauploader.storage.filesystem import _is_temp, _temp_name
from datauploader.storage.hostkeys import (HostKeyError, KnownHosts, user_known_hosts)

log = logging.getLogger(__name__)

MiB = 1 << 20
CHUNK = MiB
WINDOW = 8 * MiB  # SSH channel window: keeps pipelined writes flowing on fast links
CHECKSUM_COMMAND_FROM = 8 * MiB  # below this, reading back beats a remote process…
FAST_COMMAND = 0.02  # …unless the server answers checksum commands within this (seconds)
COMMANDS = {"sha256": "sha256sum", "md5": "md5sum", "sha1": "sha1sum"}
DIGEST_LEN = {"sha256": 64, "md5": 32, "sha1": 40}
_CONNECTION_ERRORS = (EOFError, paramiko.SSHException, ConnectionError, TimeoutError,
                      socket.timeout)


class _Restart(Exception):
    """The partial temporary file cannot be continued: start this file afresh."""


def _new_hasher(algorithm: str):
    if algorithm == "sha1":
        import hashlib
        return hashlib.sha1(usedforsecurity=False)
    return new_hasher(algorithm)


class _Connection:
    __slots__ = ("transport", "sftp", "is_rclone", "rename_refuses_existing", "thread")

    def __init__(self, transport: paramiko.Transport, sftp: paramiko.SFTPClient, thread):
        self.transport = transport
        self.sftp = sftp
        banner = (transport.remote_version or "").lower()
        # rclone's emulated shell takes the rest of the line as the path (no quoting)
        self.is_rclone = "rclone" in banner
        # OpenSSH's sftp-server renames with link(2) (or checks first where there are no
        # links): it never replaces a file. Other servers' renames may.
        self.rename_refuses_existing = "openssh" in banner
        self.thread = thread

    def close(self) -> None:
        for closer in (self.sftp.close, self.transport.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - already broken
                pass


class _Responses:
    """Read answers that paramiko hands over while it waits for another one."""

    def __init__(self):
        self.got: dict[int, tuple] = {}

    def _async_response(self, t, msg, num) -> None:  # called by paramiko's SFTPClient
        self.got[num] = (t, msg)


def _read_pipelined(sftp: paramiko.SFTPClient, handle: bytes, size: int, take,
                    step: int = 32768, window: int = 32) -> int:
    """Read a whole remote file with ``window`` requests in flight, in one thread; returns
    the bytes read (more than ``size`` if the file is longer: a read past ``size`` goes with
    the others). paramiko's own prefetch uses a second thread and spins while it registers
    its requests (milliseconds of CPU per file), hence this small reader on its request API."""
    from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, int64

    answers = _Responses()
    pending: deque = deque()
    offset = total = 0
    probe_sent = False
    while True:
        while len(pending) < window and (offset < size or not probe_sent):
            n = min(step, size - offset) if offset < size else step  # the last: past the end
            probe_sent = offset >= size
            num = sftp._async_request(answers, CMD_READ, handle, int64(offset), int(n))
            pending.append((num, offset, n))
            offset += n
        if not pending:
            return total
        num, at, n = pending.popleft()
        while num not in answers.got:
            sftp._read_response()  # one packet; ours go to ``answers``
        t, msg = answers.got.pop(num)
        if t == CMD_STATUS:
            try:
                sftp._convert_status(msg)  # raises for every status but OK
            except EOFError:  # the end of the file
                if at < size:
                    return total  # shorter than expected: the caller compares the sizes
                continue
            raise paramiko.SFTPError("Expected data")
        if t != CMD_DATA:
            raise paramiko.SFTPError("Expected data")
        data = msg.get_string()
        take(data)
        total += len(data)
        if at >= size:  # the file is longer than expected
            continue
        if len(data) < n:  # a short answer: ask for the rest next
            num = sftp._async_request(answers, CMD_READ, handle, int64(at + len(data)),
                                      int(n - len(data)))
            pending.appendleft((num, at + len(data), n - len(data)))


class SFTPStorage(StorageBackend):
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
        Option("verify", "auto: a server checksum for files from 8 MiB up where the server "
               "allows one, else read back; checksum: a server checksum for every file where "
               "allowed; reread: always read back; size: size only", default="auto",
               choices=("auto", "checksum", "reread", "size")),
        Option("remote_checksum", "checksum command on the server: auto (the job's algorithm "
               "if the server has a command for it, else md5), sha256, md5, or off",
               default="auto", choices=("auto", "sha256", "md5", "off")),
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
                 passphrase: str | None = None, storage_name: str | None = None):
        self.host = host
        self.port = int(port)
        self.username = username
        root = (path or ".").rstrip("/") or "/"
        self.root = root
        self._abs_root: str | None = root if root.startswith("/") else None
        self.prefix_template = prefix
        self.key_file = os.path.expanduser(key_file) if key_file else ""
        self.use_agent = use_agent
        if isinstance(known_hosts, KnownHosts):
            self.known = known_hosts
        else:  # constructed by hand: the user's file, an optional extra one, and ours
            from datauploader.paths import resolve

            files = [user_known_hosts(os.environ)] + ([known_hosts] if known_hosts else [])
            self.known = KnownHosts(os.path.join(resolve().config_dir, "known_hosts"),
                                    tuple(files))
        self.verify_mode = verify
        self.remote_checksum = remote_checksum
        self.name_rules = RULES[names]
        self.connect_timeout = float(connect_timeout)
        self._password = password
        self._passphrase = passphrase
        self.storage_name = storage_name
        self._local = threading.local()
        self._conns: list[_Connection] = []
        self._lock = threading.Lock()
        self._dirs: set[str] = set()  # folders known to exist
        self._no_command: set[str] = set()  # algorithms whose checksum command failed
        self._command_fast: bool | None = None  # is a checksum command cheap here?
        self._pkey = None

    # -- construction from the configuration -----------------------------------------------
    @classmethod
    def from_config(cls, options: dict, ctx) -> "SFTPStorage":
        options = dict(options)
        options.pop("password", None)
        options.pop("passphrase", None)
        endpoint = f"{options['host']}:{options.get('port', 22)}"
        stored = ctx.secrets.get(service_name("sftp", endpoint), options["username"])
        if options.get("key_file"):
            passphrase = stored or ctx.env.get("DATAUPLOADER_SFTP_PASSPHRASE") or None
            password = ctx.env.get("DATAUPLOADER_SFTP_PASSWORD") or None
        else:
            passphrase = ctx.env.get("DATAUPLOADER_SFTP_PASSPHRASE") or None
            password = stored or ctx.env.get("DATAUPLOADER_SFTP_PASSWORD") or None
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
        return f"{self.host}:{self.port}"

    def _unreachable(self, e: BaseException, connecting: bool) -> UnreachableError:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else (str(e) or
                                                                           type(e).__name__)
        if isinstance(e, socket.gaierror):
            reason = f"the host name {self.host} could not be resolved"
        elif isinstance(e, (TimeoutError, socket.timeout)):
            reason = "no answer in time"
        elif isinstance(e, EOFError):
            reason = "the server closed the connection"
        if connecting:
            msg = (f"Cannot reach the SFTP server {self._where}: {reason}. Check the address and "
                   "the network; the job can be resumed.")
        else:
            msg = (f"The connection to the SFTP server {self._where} failed: {reason}. The "
                   "transfer can be retried; the job can be resumed.")
        return UnreachableError(msg, details=f"{type(e).__name__}: {e}")

    def _open_transport(self) -> paramiko.Transport:
        """TCP + SSH key exchange + host-key check; no credentials offered yet."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as e:
            raise self._unreachable(e, connecting=True) from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = paramiko.Transport(sock, default_window_size=WINDOW)
        t.banner_timeout = self.connect_timeout
        opts = t.get_security_options()
        # AES-GCM where the server has it: no separate MAC per packet (a third of paramiko's
        # CPU per packet otherwise)
        opts.ciphers = tuple(sorted(opts.ciphers, key=lambda c: "-gcm@" not in c))
        try:
            known_types = self.known.preferred_key_types(self.host, self.port)
            if known_types:
                opts = t.get_security_options()
                wanted = set(known_types)
                if "ssh-rsa" in wanted:  # an RSA key is used with these signature algorithms
                    wanted |= {"rsa-sha2-512", "rsa-sha2-256"}
                first = [k for k in opts.key_types if k in wanted]
                opts.key_types = first + [k for k in opts.key_types if k not in wanted]
            t.start_client(timeout=self.connect_timeout)
            key = t.get_remote_server_key()
            self.known.check(self.host, self.port, key.get_name(), key.get_base64(),
                             storage=self.storage_name)
        except HostKeyError:
            t.close()
            raise
        except (*_CONNECTION_ERRORS, OSError) as e:
            t.close()
            raise self._unreachable(e, connecting=True) from e
        return t

    def check_host_key(self) -> None:
        """Connect just far enough to see the server's key; raise HostKeyUnknownError or
        HostKeyChangedError if it is not trusted (front-ends call this before a job)."""
        self._open_transport().close()

    def _load_key(self):
        if self._pkey is None:
            if not os.path.isfile(self.key_file):
                raise UserFacingError(f"The private key file {self.key_file} does not exist; "
                                      "fix 'key_file' in the storage configuration.")
            try:
                password = self._passphrase.encode("utf-8") if self._passphrase else None
                self._pkey = paramiko.PKey.from_path(self.key_file, password)
            except (paramiko.PasswordRequiredException, TypeError) as e:
                if self._passphrase is not None or (isinstance(e, TypeError) and
                                                    "password" not in str(e).lower()):
                    raise AuthError(f"The key file {self.key_file} could not be opened ({e}); "
                                    "check the file and its passphrase.") from e
                raise AuthError(
                    f"The key file {self.key_file} is protected by a passphrase; store it with "
                    f"'datauploader credentials set {self.storage_name or 'STORAGE'}' or set "
                    "DATAUPLOADER_SFTP_PASSPHRASE.") from None
            except (paramiko.SSHException, ValueError) as e:
                raise AuthError(f"The key file {self.key_file} could not be opened ({e}); check "
                                "the file and its passphrase.") from e
        return self._pkey

    def _authenticate(self, t: paramiko.Transport) -> None:
        tried: list[str] = []
        name = self.storage_name or "STORAGE"

        def attempt(what, fn) -> bool:
            if what not in tried:
                tried.append(what)
            try:
                fn()
            except paramiko.AuthenticationException:
                return False
            return t.is_authenticated()  # False after a partial success (a second factor)

        if self.key_file:
            pkey = self._load_key()
            if attempt(f"key {self.key_file}", lambda: t.auth_publickey(self.username, pkey)):
                return
        agent_keys = ()
        if self.use_agent:
            try:
                agent_keys = paramiko.Agent().get_keys()
            except Exception:  # noqa: BLE001 - no agent running
                agent_keys = ()
        for k in agent_keys:
            if attempt("SSH agent's keys", lambda k=k: t.auth_publickey(self.username, k)):
                return
        if self._password:
            if attempt("password", lambda: t.auth_password(self.username, self._password)):
                return
        if not tried:
            raise AuthError(
                f"There is no key or password to log in to the SFTP server {self._where} as "
                f"{self.username}: set key_file in [storage:{name}], or store the password with "
                f"'datauploader credentials set {name}', or set DATAUPLOADER_SFTP_PASSWORD.")
        raise AuthError(f"The SFTP server {self._where} refused the {' and the '.join(tried)} "
                        f"for user {self.username}. Check the user name and the key or password "
                        f"('datauploader credentials set {name}').")

    def _connect(self) -> _Connection:
        t = self._open_transport()
        try:
            self._authenticate(t)
            sftp = paramiko.SFTPClient.from_transport(t, window_size=WINDOW)
        except (AuthError, UserFacingError):
            t.close()
            raise
        except (*_CONNECTION_ERRORS, OSError) as e:
            t.close()
            raise self._unreachable(e, connecting=True) from e
        conn = _Connection(t, sftp, threading.current_thread())
        with self._lock:
            # connections of worker threads that ended (an earlier job) are closed here
            stale = [c for c in self._conns if not c.thread.is_alive()]
            self._conns = [c for c in self._conns if c.thread.is_alive()] + [conn]
        for c in stale:
            c.close()
        if self._abs_root is None:
            try:
                self._abs_root = sftp.normalize(self.root)
            except IOError:
                pass  # reported by check()
        return conn

    def _conn(self) -> _Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.transport.is_active():
            return conn
        if conn is not None:
            conn.close()
        self._local.conn = None
        conn = self._local.conn = self._connect()
        return conn

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None

    def _failure(self, conn: _Connection, e: BaseException, path: str, doing: str) -> Exception:
        """Turn an exception from paramiko into one of ours (connection or SFTP status)."""
        if isinstance(e, _CONNECTION_ERRORS) or not conn.transport.is_active():
            self._drop(conn)
            return self._unreachable(e, connecting=False)
        code = getattr(e, "errno", None)
        if code == errno.EACCES:
            return PermissionDeniedError(f"The SFTP server {self._where} denied {doing} {path}; "
                                         "ask for write access to the folder.")
        if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return StorageFullError(f"The SFTP server {self._where} has no space left (or your "
                                    f"quota is used up) while {doing} {path}.")
        return FileError(f"The SFTP server {self._where} refused {doing} {path} ({e}). If the "
                         "disk is full or a quota is used up, free some space, then resume.",
                         details=f"{type(e).__name__}: {e}")

    def close(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            c.close()
        self._local = threading.local()

    # -- paths ------------------------------------------------------------------------------
    def _remote(self, key: str) -> str:
        parts = [p for p in key.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise UnsafeKeyError(f"The remote key '{key}' would escape the storage folder.")
        return posixpath.join(self.root, *parts) if parts else self.root

    def _size(self, conn: _Connection, path: str) -> int | None:
        try:
            return conn.sftp.stat(path).st_size
        except IOError as e:
            if getattr(e, "errno", None) == errno.ENOENT and conn.transport.is_active():
                return None
            raise self._failure(conn, e, path, "reading the size of") from e

    def _ensure_dirs(self, conn: _Connection, folder: str) -> None:
        if folder in self._dirs or folder in ("", ".", "/", self.root):
            return
        parent = posixpath.dirname(folder)
        if parent != folder:
            self._ensure_dirs(conn, parent)
        try:
            conn.sftp.mkdir(folder)
        except IOError as e:
            if not conn.transport.is_active():
                raise self._failure(conn, e, folder, "creating") from e
            try:  # exists already (made by another worker, or earlier)?
                st = conn.sftp.stat(folder)
            except IOError:
                raise self._failure(conn, e, folder, "creating") from e
            if not statmod.S_ISDIR(st.st_mode or 0):
                raise RemoteExistsError(f"{folder} exists on the SFTP server {self._where} and is "
                                        "not a folder; nothing was overwritten.") from None
        with self._lock:
            self._dirs.add(folder)

    def _remove(self, conn: _Connection, path: str) -> None:
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

    def check(self) -> None:
        conn = self._conn()
        try:
            st = conn.sftp.stat(self.root)
        except IOError as e:
            if getattr(e, "errno", None) == errno.ENOENT and conn.transport.is_active():
                raise UserFacingError(
                    f"The folder {self.root} does not exist on the SFTP server {self._where}; "
                    "create it or fix 'path' in the storage configuration.") from None
            raise self._failure(conn, e, self.root, "opening") from e
        if not statmod.S_ISDIR(st.st_mode or 0):
            raise UserFacingError(f"{self.root} on the SFTP server {self._where} is not a "
                                  "folder; fix 'path' in the storage configuration.")

    def stat(self, key: str) -> RemoteObject | None:
        conn = self._conn()
        size = self._size(conn, self._remote(key))
        return None if size is None else RemoteObject(key=key, size=size)

    def existing(self, prefix: str) -> dict[str, RemoteObject]:
        conn = self._conn()
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
                raise self._failure(conn, e, path, "listing") from e
            for a in entries:
                key = f"{rel}/{a.filename}" if rel else a.filename
                if statmod.S_ISDIR(a.st_mode or 0):
                    todo.append(key)
                elif not _is_temp(a.filename):
                    found[key] = RemoteObject(key=key, size=a.st_size or 0)
        return found

    def upload(self, item: TransferItem, ctx: TransferContext) -> UploadResult:
        conn = self._conn()
        target = self._remote(item.key)
        temp = self._remote(_temp_name(item))
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
        except (*_CONNECTION_ERRORS, OSError) as e:
            raise self._failure(conn, e, target, "writing") from e

    def _remote_algorithm(self, algorithm: str, size: int, resuming: bool) -> str | None:
        """Which checksum to ask the server for, or None (read back instead)."""
        if self.verify_mode in ("reread", "size") and not resuming:
            return None
        if self.verify_mode == "auto" and size < CHECKSUM_COMMAND_FROM and not resuming \
                and self._command_fast is False:
            return None  # a process start on the server costs more than reading back
        if self.remote_checksum == "off":
            return None
        if self.remote_checksum != "auto":
            choice = self.remote_checksum
        else:
            choice = algorithm if algorithm in COMMANDS else "md5"
        return None if choice in self._no_command else choice

    def _open_temp(self, conn: _Connection, temp: str, resume: bool):
        """(open file, 0) for a fresh temporary file, or (None, size) for a partial one of
        ours left by an earlier attempt (one request in the common case: O_EXCL)."""
        try:
            return conn.sftp.open(temp, "wxb" if resume else "wb", bufsize=0), 0
        except IOError as e:
            if not resume or not conn.transport.is_active():
                raise self._failure(conn, e, temp, "creating") from e
            size = self._size(conn, temp)
            if size is None:
                raise self._failure(conn, e, temp, "creating") from e
            return None, size

    def _send(self, conn: _Connection, item: TransferItem, ctx: TransferContext, target: str,
              temp: str, resume: bool) -> UploadResult:
        f, offset = self._open_temp(conn, temp, resume)
        try:
            return self._send_open(conn, item, ctx, target, temp, f, offset)
        finally:
            if f is not None:
                f.close()

    def _send_open(self, conn: _Connection, item: TransferItem, ctx: TransferContext, target: str,
                   temp: str, f, offset: int) -> UploadResult:
        with ctx.open_source(item) as src:
            if offset > src.size:
                raise _Restart("the partial file on the server is longer than the file")
            ralg = self._remote_algorithm(item.algorithm, src.size, resuming=offset > 0)
            extra = _new_hasher(ralg) if ralg and ralg != item.algorithm else None
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            left = offset
            while left:  # the part already on the server: hash it, do not send it
                n = src.readinto(view[:min(CHUNK, left)])
                if not n:
                    raise FileChangedError(f"{item.path} shrank since it was partly uploaded; "
                                           "it is probably still being written.")
                if extra is not None:
                    extra.update(view[:n])
                left -= n
                if ctx.cancel.is_set():
                    raise CancelledError()
            if offset and ralg:
                want = (extra if extra is not None else src.hasher).copy().hexdigest()
                got = self._remote_hash(conn, temp, ralg, offset)
                if got is not None and got != want:
                    raise _Restart("the partial file on the server differs from the file")
            if f is None:
                try:
                    f = conn.sftp.open(temp, "r+b", bufsize=0)
                except IOError as e:
                    if conn.transport.is_active():
                        raise _Restart(f"the partial file cannot be reopened ({e})") from None
                    raise self._failure(conn, e, temp, "reopening") from e
            with f:
                f.set_pipelined(True)
                self._fit_packets(conn, f)
                if offset:
                    f.seek(offset)
                while True:
                    n = src.readinto(buf)
                    if not n:
                        break
                    if extra is not None:
                        extra.update(view[:n])
                    ctx.sent(n)
                    f.write(view[:n])
            checksum = src.finish()
            size = src.read_bytes
        verified = self._verify(conn, temp, size, checksum, item.algorithm,
                                extra.hexdigest() if extra is not None else None, ralg,
                                resumed=offset > 0, cancel=ctx.cancel)
        self._place(conn, temp, target, item)
        if offset:
            verified += f"; resumed at {offset}"
        return UploadResult(size=size, checksum=checksum, location=self.location(item.key),
                            verified_by=verified)

    def _verify(self, conn: _Connection, temp: str, size: int, checksum: str, algorithm: str,
                extra_hex: str | None, ralg: str | None, resumed: bool, cancel) -> str:
        def mismatch(why: str):
            if resumed:  # the partial we continued was not what we thought: start afresh
                raise _Restart(why)
            raise VerificationError(f"After uploading, {why}; the server did not keep what "
                                    "was sent.")

        if ralg:  # the server's checksum of the content proves its size too
            got = self._remote_hash(conn, temp, ralg, size)
            if got is not None:
                want = checksum if ralg == algorithm else extra_hex
                if got != want:
                    remote_size = self._size(conn, temp)
                    mismatch(f"the server's {ralg} of {temp} ({remote_size} bytes) is {got}, "
                             f"{want} ({size} bytes) was sent")
                return f"size+server-{ralg}"
        elif self.verify_mode == "size" and not resumed:
            remote_size = self._size(conn, temp)
            if remote_size != size:
                mismatch(f"the SFTP server reports {remote_size} bytes for {temp}, {size} were "
                         "sent")
            return "size"
        # reading back gives both the size and the content
        got, n = self._read_back(conn, temp, algorithm, cancel, size)
        if n != size:
            mismatch(f"the SFTP server holds {n} bytes in {temp}, {size} were sent")
        if got != checksum:
            mismatch(f"reading {temp} back gave {algorithm} {got}, {checksum} was sent")
        return f"size+{algorithm}-reread"

    def _place(self, conn: _Connection, temp: str, target: str, item: TransferItem) -> None:
        if not conn.rename_refuses_existing and self._size(conn, target) is not None:
            raise RemoteExistsError(f"{self.location(item.key)} appeared while it was being "
                                    "uploaded; it was not overwritten.")
        try:
            conn.sftp.rename(temp, target)  # refuses an existing target (OpenSSH: link(2))
        except IOError as e:
            if conn.transport.is_active() and self._size(conn, target) is not None:
                raise RemoteExistsError(f"{self.location(item.key)} appeared while it was being "
                                        "uploaded; it was not overwritten.") from None
            raise self._failure(conn, e, target, "moving into place") from e

    @staticmethod
    def _fit_packets(conn: _Connection, f) -> None:
        """SFTP reads and writes of 32 KiB do not fit in one SSH packet of the usual 32 KiB
        (the SFTP header and paramiko's margin push them over), so each would cost two
        packets: keep them a little smaller."""
        room = conn.sftp.sock.out_max_packet_size - 64 - 64  # paramiko's margin, our header
        if 4096 <= room < f.MAX_REQUEST_SIZE:
            f.MAX_REQUEST_SIZE = room

    def _remote_hash(self, conn: _Connection, path: str, algorithm: str, size: int) -> str | None:
        """The server's checksum of ``path``, or None where it has no such command."""
        if algorithm in self._no_command:
            return None
        cmd = COMMANDS[algorithm]
        if conn.is_rclone:
            if any(c in path for c in "\r\n"):
                return None
            line = f"{cmd} {path}"
        else:
            line = f"{cmd} -- {shlex.quote(path)}"
        timeout = 60 + size / (20 * MiB)  # the server reads the whole file
        started = time.monotonic()
        out, err = bytearray(), bytearray()
        try:
            chan = conn.transport.open_session(timeout=self.connect_timeout)
        except paramiko.ChannelException:
            self._no_command.add(algorithm)  # sessions refused: an SFTP-only account
            return None
        except _CONNECTION_ERRORS as e:
            raise self._failure(conn, e, path, "checksumming") from e
        try:
            chan.settimeout(timeout)
            chan.exec_command(line)
            # nothing on stdin: an account forced into internal-sftp then ends at once
            # instead of waiting for SFTP requests
            chan.shutdown_write()
            while True:
                data = chan.recv(65536)
                if not data:
                    break
                out += data
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            status = chan.recv_exit_status()
        except paramiko.SSHException as e:
            if conn.transport.is_active():
                log.info("checksum command %s refused: %s", cmd, e)
                self._no_command.add(algorithm)
                return None
            raise self._failure(conn, e, path, "checksumming") from e
        except (socket.timeout, TimeoutError) as e:
            raise TransientError(f"The SFTP server {self._where} took too long to checksum "
                                 f"{path}.") from e
        finally:
            chan.close()
        first = bytes(out).split(b"\n", 1)[0].split()
        digest = first[0].decode("ascii", "replace").lstrip("\\").lower() if first else ""
        if status != 0 or len(digest) != DIGEST_LEN[algorithm] or \
                any(c not in "0123456789abcdef" for c in digest):
            log.info("checksum command %r unusable here (status %s): %s", cmd, status,
                     bytes(err[:200]).decode("utf-8", "replace"))
            self._no_command.add(algorithm)
            return None
        if size < CHECKSUM_COMMAND_FROM:
            # cheap where the server answers in-process (rclone serve sftp), dear where it
            # starts a process (OpenSSH: ~80 ms): learnt on small files, for small files
            self._command_fast = time.monotonic() - started < FAST_COMMAND
        return digest

    def _read_back(self, conn: _Connection, path: str, algorithm: str,
                   cancel: threading.Event | None, size: int | None = None) -> tuple[str, int]:
        """(checksum, length) of the remote file; ``size``, when known, saves a stat."""
        h = _new_hasher(algorithm)

        def take(data):
            if cancel is not None and cancel.is_set():
                raise CancelledError()
            h.update(data)

        try:
            with conn.sftp.open(path, "rb", bufsize=0) as f:
                if size is None:
                    size = f.stat().st_size
                room = conn.sftp.sock.out_max_packet_size - 128
                n = _read_pipelined(conn.sftp, f.handle, size, take,
                                    step=max(4096, min(32768, room)))
        except (*_CONNECTION_ERRORS, OSError) as e:
            raise self._failure(conn, e, path, "reading back") from e
        return h.hexdigest(), n

    def adopt(self, item: TransferItem, remote: RemoteObject, ctx: TransferContext) -> UploadResult:
        conn = self._conn()
        target = self._remote(item.key)
        where = self.location(item.key)
        with ctx.open_source(item) as src:
            ralg = self._remote_algorithm(item.algorithm, src.size, resuming=False)
            extra = _new_hasher(ralg) if ralg and ralg != item.algorithm else None
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
            raise RemoteExistsError(f"{where} already exists with other content ({remote.size} "
                                    f"bytes, the local file has {size}); it was not overwritten.")
        how = None
        if ralg:
            got = self._remote_hash(conn, target, ralg, size)
            if got is not None:
                if got != (checksum if ralg == item.algorithm else extra.hexdigest()):
                    raise RemoteExistsError(f"{where} already exists with other content (its "
                                            f"{ralg} differs); it was not overwritten.")
                how = f"server-{ralg}"
        if how is None:
            got, n = self._read_back(conn, target, item.algorithm, ctx.cancel, size)
            if (got, n) != (checksum, size):
                raise RemoteExistsError(f"{where} already exists with other content (its "
                                        f"{item.algorithm} differs); it was not overwritten.")
            how = f"{item.algorithm}-reread"
        return UploadResult(size=size, checksum=checksum, location=where,
                            verified_by=f"already present ({how})", skipped=True)

    def read_checksum(self, key: str, algorithm: str,
                      cancel: threading.Event | None = None) -> tuple[str, int]:
        conn = self._conn()
        return self._read_back(conn, self._remote(key), algorithm, cancel)

    def cleanup_task(self, item: TransferItem, ctx: TransferContext) -> None:
        conn = self._conn()
        self._remove(conn, self._remote(_temp_name(item)))
