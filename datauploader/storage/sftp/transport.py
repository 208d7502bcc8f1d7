"""SSH connections to one SFTP server: one per worker thread, each checked and logged in.

* The host key is checked against the known_hosts files (``hostkeys``) right after the key
  exchange, before any credential is offered.
* Log-in with the configured key file (its passphrase is asked of the keyring only when the
  key turns out to need one), the SSH agent's keys, then the password.
* Speed: paramiko's transport thread reads the socket through ``_SSHSocket`` (one recv for many
  packets, no poll per call); AES-GCM is preferred (no separate MAC per packet); the channel
  window is 8 MiB, so that pipelined writes keep flowing.
* paramiko's exceptions become ours in ``failure``: a broken connection is dropped (the next
  call opens another) and reported as unreachable, an SFTP status as denied, full or refused.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
import threading
from collections.abc import Callable

from datauploader.errors import (AuthError, FileError, PermissionDeniedError, StorageFullError,
                                 TransientError, UnreachableError, UserFacingError, unreachable)
from datauploader.storage.sftp.hostkeys import HostKeyError, KnownHosts
from datauploader.storage.sftp.paramiko_import import paramiko
from datauploader.storage.sftp.wire import Wire

MiB = 1 << 20
WINDOW = 8 * MiB  # SSH channel window: keeps pipelined writes flowing on fast links
# SFTP WRITE payload: 255 KiB where the server is known to take messages up to 256 KiB
# (OpenSSH's sftp-server, rclone's), else 32 KiB (what every server must accept)
BIG_WRITE, SAFE_WRITE = 255 * 1024, 32 * 1024
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
CONNECTION_ERRORS = (EOFError, paramiko.SSHException, ConnectionError, TimeoutError,
                     socket.timeout)


class _SSHSocket:
    """The SSH connection's socket as paramiko's transport thread uses it. paramiko reads
    each SSH packet in two calls (its first cipher block, then the rest), and its socket has
    a time-out, so that each call is a poll and a recv, each a hand-over of the GIL. Here one
    recv of up to 256 KiB serves many packets, and on Linux the socket is blocking with
    kernel time-outs (SO_RCVTIMEO/SO_SNDTIMEO, set from paramiko's ``settimeout``): no poll
    before each call. paramiko treats the EAGAIN of an expired kernel time-out as its
    periodic time-out (it checks whether the transport should stop)."""

    __slots__ = ("_sock", "_buf", "_pos")

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, n: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos < len(buf):
            self._pos = pos + n
            return buf[pos:pos + n]
        data = self._sock.recv(max(n, 262144))
        if len(data) > n:
            self._buf, self._pos = data, n
            return data[:n]
        return data

    def send(self, data) -> int:
        return self._sock.send(data)

    def settimeout(self, timeout: float | None) -> None:
        if not _KERNEL_TIMEOUTS:
            self._sock.settimeout(timeout)
            return
        self._sock.settimeout(None)
        secs = float(timeout or 0)  # 0: no time-out
        tv = struct.pack("ll", int(secs), int((secs % 1) * 1e6))
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)

    def close(self) -> None:
        self._sock.close()

    @property
    def _closed(self) -> bool:
        return self._sock._closed

    def __getattr__(self, name):
        return getattr(self._sock, name)


class Connection:
    """One worker thread's SSH connection and SFTP channel."""

    __slots__ = ("transport", "sftp", "is_rclone", "rename_refuses_existing", "thread", "wire",
                 "write_size")

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
        self.wire = Wire(sftp)
        self.write_size = BIG_WRITE if ("openssh" in banner or self.is_rclone) else SAFE_WRITE

    def close(self) -> None:
        for closer in (self.sftp.close, self.transport.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - already broken
                pass


class SSHConnections:
    """The connections of the worker threads to one server, with its host-key check and its
    credentials (``passphrase`` may be a callable: asked only if the key needs one).
    ``on_connect`` is called with each new connection once it is logged in."""

    def __init__(self, host: str, port: int, username: str, known: KnownHosts, key_file: str = "",
                 use_agent: bool = True, password: str | None = None,
                 passphrase: str | Callable[[], str | None] | None = None,
                 connect_timeout: float = 20.0, storage_name: str | None = None,
                 on_connect: Callable[[Connection], None] | None = None):
        self.host = host
        self.port = port
        self.username = username
        self.known = known
        self.key_file = key_file
        self.use_agent = use_agent
        self.connect_timeout = connect_timeout
        self.storage_name = storage_name
        self._password = password
        self._passphrase = passphrase
        self._on_connect = on_connect
        self._pkey = None
        self._local = threading.local()
        self._conns: list[Connection] = []
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def unreachable(self, e: BaseException, connecting: bool) -> UnreachableError:
        return unreachable(f"the SFTP server {self.where}", e, connecting, self.host)

    def open_transport(self) -> paramiko.Transport:
        """TCP + SSH key exchange + host-key check; no credentials offered yet."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as e:
            raise self.unreachable(e, connecting=True) from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = paramiko.Transport(_SSHSocket(sock), default_window_size=WINDOW)
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
        except (*CONNECTION_ERRORS, OSError) as e:
            t.close()
            raise self.unreachable(e, connecting=True) from e
        return t

    def check_host_key(self) -> None:
        """Connect just far enough to see the server's key (HostKeyError if not trusted)."""
        self.open_transport().close()

    def _read_key(self, passphrase: str | None):
        return paramiko.PKey.from_path(self.key_file,
                                       passphrase.encode("utf-8") if passphrase else None)

    def _load_key(self):
        if self._pkey is None:
            if not os.path.isfile(self.key_file):
                raise UserFacingError(f"The private key file {self.key_file} does not exist; "
                                      "fix 'key_file' in the storage configuration.")
            try:
                try:
                    self._pkey = self._read_key(None if callable(self._passphrase)
                                                else self._passphrase)
                except (paramiko.PasswordRequiredException, TypeError):
                    if not callable(self._passphrase):
                        raise
                    self._passphrase = self._passphrase()  # now that one is needed
                    if self._passphrase is None:
                        raise
                    self._pkey = self._read_key(self._passphrase)
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
                f"There is no key or password to log in to the SFTP server {self.where} as "
                f"{self.username}: set key_file in [storage:{name}], or store the password with "
                f"'datauploader credentials set {name}', or set DATAUPLOADER_SFTP_PASSWORD.")
        raise AuthError(f"The SFTP server {self.where} refused the {' and the '.join(tried)} "
                        f"for user {self.username}. Check the user name and the key or password "
                        f"('datauploader credentials set {name}').")

    def _connect(self) -> Connection:
        t = self.open_transport()
        try:
            self._authenticate(t)
            sftp = paramiko.SFTPClient.from_transport(t, window_size=WINDOW)
        except (AuthError, UserFacingError):
            t.close()
            raise
        except (*CONNECTION_ERRORS, OSError) as e:
            t.close()
            raise self.unreachable(e, connecting=True) from e
        conn = Connection(t, sftp, threading.current_thread())
        with self._lock:
            # connections of worker threads that ended (an earlier job) are closed here
            stale = [c for c in self._conns if not c.thread.is_alive()]
            self._conns = [c for c in self._conns if c.thread.is_alive()] + [conn]
        for c in stale:
            c.close()
        if self._on_connect is not None:
            self._on_connect(conn)
        return conn

    def get(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.transport.is_active():
            return conn
        if conn is not None:
            conn.close()
        self._local.conn = None
        conn = self._local.conn = self._connect()
        return conn

    def drop(self, conn: Connection) -> None:
        conn.close()
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None

    def failure(self, conn: Connection, e: BaseException, path: str, doing: str) -> Exception:
        """Turn an exception from paramiko into one of ours (connection or SFTP status)."""
        if isinstance(e, CONNECTION_ERRORS) or not conn.transport.is_active():
            self.drop(conn)
            return self.unreachable(e, connecting=False)
        code = getattr(e, "errno", None)
        if code == errno.ENOENT and doing == "writing":
            # our own temporary file, in a folder just made (by us or another worker): rclone
            # serve sftp now and then answers "no such file" to a connection that has not seen
            # a folder another connection made; the next attempt finds it
            return TransientError(f"The SFTP server {self.where} did not find {path} while it "
                                  "was being written (its folder had just been made); trying "
                                  "again.", details=f"{type(e).__name__}: {e}")
        if code == errno.EACCES:
            return PermissionDeniedError(f"The SFTP server {self.where} denied {doing} {path}; "
                                         "ask for write access to the folder.")
        if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return StorageFullError(f"The SFTP server {self.where} has no space left (or your "
                                    f"quota is used up) while {doing} {path}.")
        return FileError(f"The SFTP server {self.where} refused {doing} {path} ({e}). If the "
                         "disk is full or a quota is used up, free some space, then resume.",
                         details=f"{type(e).__name__}: {e}")

    def close(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            c.close()
        self._local = threading.local()

