"""SFTP storage (paramiko): one SSH connection per worker thread, resumable, never overwriting.

* **Host keys** are checked against the known_hosts files before any credential is offered
  (``hostkeys.py``): an unknown key is a question for the user, a changed key a loud error.
* **Upload** goes to ``.<name>.du-<job>-<task>.part`` next to the target (the same temporary
  names as the filesystem backend). The per-file requests are written to the SFTP channel
  directly (``_Wire``), several in one SSH packet: OPEN; the WRITEs (255 KiB each where the
  server takes them), CLOSE and a STAT of the temporary file (and of the target where the
  rename may replace) pipelined; RENAME: three round trips for a small file. A large file is
  read once in 1 MiB chunks, hashed on helper threads while it is sent, with up to 8 MiB of
  writes unacknowledged.
* **Resume**: a temporary file of ours left by a crash or a dropped connection is continued:
  the local prefix is re-read (the checksum needs every byte) and, where the server allows a
  checksum command, compared with the remote partial; then only the rest is appended. A
  partial that cannot be proven (or reopened) is started afresh, never trusted blindly: the
  final verification covers the whole file either way (by the server's checksum, else by
  reading it back).
* **Verification**: always the size the server reports for the closed temporary file (from
  the STAT sent with the CLOSE, so it costs no round trip); for files from 8 MiB also a
  checksum computed by the server where remote commands are allowed: ``sha1sum`` on OpenSSH
  with a shell (the fastest there), ``md5sum`` on ``rclone serve sftp`` (which has the MD5
  from the write, or from its backend); ``remote_checksum`` may choose another. For smaller
  files a command costs more than it proves (OpenSSH starts a process for it, ~80 ms; SSH's
  MAC already protects the bytes on the way).
  ``verify = checksum`` asks the server for every file, ``reread`` reads every file back,
  ``size`` checks sizes only.
* **Speed**: paramiko's transport thread reads the socket through ``_SSHSocket`` (one recv
  for many packets, no poll per call); AES-GCM is preferred (no separate MAC per packet).
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
import struct
import sys
import threading
from collections import deque
from collections.abc import Callable

from datauploader import proofs
from datauploader.checksums import HashingSink, new_hasher
from datauploader.errors import (AuthError, CancelledError, FileChangedError, FileError,
                                 PermissionDeniedError, RemoteExistsError, StorageFullError,
                                 TransientError, UnreachableError, UnsafeKeyError, UserFacingError,
                                 VerificationError, unreachable)
from datauploader.names import RULES
from datauploader.options import Option, SecretSlot, keyring_service
from datauploader.proofs import Proof
from datauploader.storage.base import (ChecksHostKey, RemoteObject, StorageBackend, TransferContext,
                                       TransferItem, UploadResult, other_content)
from datauploader.storage.fastio import hashed_chunks
from datauploader.storage.hostkeys import HostKeyError, KnownHosts, user_known_hosts
from datauploader.storage.tempnames import is_temp, temp_name


def _import_paramiko():
    """paramiko's ssh_config support imports invoke, which brings asyncio and unittest.mock
    along: 30 ms of every start, for ``Match exec`` lines DataUploader never reads (paramiko
    catches the ImportError). The block holds for that one import; invoke stays importable."""
    if "paramiko" in sys.modules or "invoke" in sys.modules:
        return __import__("paramiko")
    sys.modules["invoke"] = None
    try:
        return __import__("paramiko")
    finally:
        del sys.modules["invoke"]


paramiko = _import_paramiko()


log = logging.getLogger(__name__)

MiB = 1 << 20
CHUNK = MiB
WINDOW = 8 * MiB  # SSH channel window: keeps pipelined writes flowing on fast links
CHECKSUM_COMMAND_FROM = 8 * MiB  # below this, reading back beats a remote process…
SMALL_FILE = MiB  # read whole, then written, closed and stat'ed in one send
UNACKED = 8 * MiB  # written and not yet acknowledged by the server, at most
# SFTP WRITE payload: 255 KiB where the server is known to take messages up to 256 KiB
# (OpenSSH's sftp-server, rclone's), else 32 KiB (what every server must accept)
BIG_WRITE, SAFE_WRITE = 255 * 1024, 32 * 1024
COMMANDS = {"sha256": "sha256sum", "md5": "md5sum", "sha1": "sha1sum"}
DIGEST_LEN = {"sha256": 64, "md5": 32, "sha1": 40}
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
_CONNECTION_ERRORS = (EOFError, paramiko.SSHException, ConnectionError, TimeoutError,
                      socket.timeout)


class _Restart(Exception):
    """The partial temporary file cannot be continued: start this file afresh."""


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


class _Connection:
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
        self.wire = _Wire(sftp)
        self.write_size = BIG_WRITE if ("openssh" in banner or self.is_rclone) else SAFE_WRITE

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


# SFTP version 3 (draft-ietf-secsh-filexfer-02): the requests the upload path sends itself
_FXP_OPEN, _FXP_CLOSE, _FXP_WRITE, _FXP_STAT, _FXP_RENAME = 3, 4, 6, 17, 18
_FXP_STATUS, _FXP_HANDLE, _FXP_ATTRS = 101, 102, 105
_FXF_READ, _FXF_WRITE, _FXF_CREAT, _FXF_TRUNC, _FXF_EXCL = 0x1, 0x2, 0x8, 0x10, 0x20
_FX_OK, _FX_EOF, _FX_NO_SUCH_FILE, _FX_PERMISSION_DENIED = 0, 1, 2, 3
_ATTR_SIZE = 0x1
_HEAD = struct.Struct(">IBI")  # length, type, request id
_U32 = struct.Struct(">I")
_U64_U32 = struct.Struct(">QI")


class _WireError(Exception):
    """The SFTP stream is out of step (an answer nobody asked for): drop the connection."""


class _Wire:
    """SFTP requests written straight to the channel of paramiko's SFTPClient, several in one
    send (so in one SSH packet when they fit), and their answers parsed from one buffer.

    A small file costs three round trips (OPEN; WRITE + CLOSE + STAT; RENAME) and a handful of
    SSH packets, where paramiko's file API costs a packet per request, two channel reads per
    answer and debug-log formatting for each call. Request ids come from the SFTPClient's
    counter, and every request sent is answered and read before paramiko's own methods run
    again on the connection (an error in between drops the connection)."""

    __slots__ = ("sftp", "chan", "rest", "out", "unsent", "waiting", "early", "unacked")

    def __init__(self, sftp: paramiko.SFTPClient):
        self.sftp = sftp
        self.chan = sftp.sock
        self.rest = b""  # received, not yet parsed
        self.out: list = []  # built, not yet sent
        self.unsent: list[int] = []
        self.waiting: dict[int, int] = {}  # request id → bytes of data it carries
        self.early: dict[int, tuple] = {}  # answers that came before the one waited for
        self.unacked = 0  # bytes of WRITE data sent, not yet answered

    @property
    def busy(self) -> bool:
        return bool(self.out or self.waiting or self.early or self.rest)

    def _id(self) -> int:
        sftp = self.sftp
        with sftp._lock:
            rid = sftp.request_number
            sftp.request_number = rid + 1
        self.unsent.append(rid)
        return rid

    # -- requests (queued; ``flush`` sends them) --
    def open(self, path: bytes, flags: int) -> int:
        rid = self._id()
        self.out.append(_HEAD.pack(17 + len(path), _FXP_OPEN, rid) + _U32.pack(len(path)) +
                        path + _U32.pack(flags) + b"\0\0\0\0")  # no attributes
        return rid

    def write(self, handle: bytes, offset: int, data) -> int:
        rid = self._id()
        n = len(data)
        self.out.append(_HEAD.pack(21 + len(handle) + n, _FXP_WRITE, rid) +
                        _U32.pack(len(handle)) + handle + _U64_U32.pack(offset, n))
        self.out.append(data)
        self.waiting[rid] = n  # (counted as unacknowledged once sent)
        return rid

    def close(self, handle: bytes) -> int:
        rid = self._id()
        self.out.append(_HEAD.pack(9 + len(handle), _FXP_CLOSE, rid) + _U32.pack(len(handle)) +
                        handle)
        return rid

    def stat(self, path: bytes) -> int:
        rid = self._id()
        self.out.append(_HEAD.pack(9 + len(path), _FXP_STAT, rid) + _U32.pack(len(path)) + path)
        return rid

    def rename(self, old: bytes, new: bytes) -> int:
        rid = self._id()
        self.out.append(_HEAD.pack(13 + len(old) + len(new), _FXP_RENAME, rid) +
                        _U32.pack(len(old)) + old + _U32.pack(len(new)) + new)
        return rid

    def flush(self) -> None:
        if not self.out:
            return
        blob = b"".join(self.out)
        self.out.clear()
        waiting = self.waiting
        for rid in self.unsent:
            n = waiting.get(rid, 0)
            waiting[rid] = n
            self.unacked += n
        self.unsent.clear()
        # (a view: paramiko's sendall slices what is left after each SSH packet)
        self.chan.sendall(memoryview(blob))

    def discard_unsent(self) -> None:
        for rid in self.unsent:
            self.waiting.pop(rid, None)
        self.unsent.clear()
        self.out.clear()

    # -- answers --
    def _packet(self) -> tuple[int, int, bytes]:
        buf = self.rest
        while len(buf) < 4 or len(buf) < 4 + _U32.unpack_from(buf)[0]:
            more = self.chan.recv(1 << 20)
            if not more:
                raise EOFError("the SFTP channel was closed")
            buf = buf + more if buf else more
        n = _U32.unpack_from(buf)[0]
        if n < 5:
            raise _WireError("a short SFTP answer")
        t, rid = buf[4], _U32.unpack_from(buf, 5)[0]
        body, self.rest = buf[9:4 + n], buf[4 + n:]
        return t, rid, body

    def answer(self, rid: int) -> tuple[int, bytes]:
        """(type, body) of the answer to request ``rid`` (sent before)."""
        got = self.early.pop(rid, None)
        while got is None:
            t, r, body = self._packet()
            if r not in self.waiting:
                raise _WireError(f"an SFTP answer to request {r}, which is not outstanding")
            if r == rid:
                got = (t, body)
            else:
                self.early[r] = (t, body)
        self.unacked -= self.waiting.pop(rid)
        return got

    def status(self, rid: int) -> OSError | None:
        """None if request ``rid`` succeeded, else the error (not raised)."""
        t, body = self.answer(rid)
        if t != _FXP_STATUS:
            raise _WireError(f"SFTP answer type {t} where a status was expected")
        return _status_error(body)

    def handle(self, rid: int) -> tuple[bytes | None, OSError | None]:
        t, body = self.answer(rid)
        if t == _FXP_HANDLE:
            n = _U32.unpack_from(body)[0]
            return body[4:4 + n], None
        if t != _FXP_STATUS:
            raise _WireError(f"SFTP answer type {t} where a handle was expected")
        return None, _status_error(body) or OSError("no handle in the SFTP answer")

    def size(self, rid: int) -> tuple[int | None, OSError | None]:
        """(size, None), or (None, the error) for a STAT's answer (ENOENT: no such file)."""
        t, body = self.answer(rid)
        if t == _FXP_ATTRS:
            flags = _U32.unpack_from(body)[0]
            if not flags & _ATTR_SIZE:
                return None, OSError("the SFTP server does not report sizes")
            return struct.unpack_from(">Q", body, 4)[0], None
        if t != _FXP_STATUS:
            raise _WireError(f"SFTP answer type {t} where attributes were expected")
        return None, _status_error(body) or OSError("no attributes in the SFTP answer")

    def drain(self) -> None:
        """Read every outstanding answer (ignoring what they say)."""
        self.discard_unsent()
        while self.waiting:
            self.answer(next(iter(self.waiting)))


def _status_error(body: bytes) -> OSError | None:
    code = _U32.unpack_from(body)[0]
    if code == _FX_OK:
        return None
    text = ""
    if len(body) >= 8:
        n = _U32.unpack_from(body, 4)[0]
        text = body[8:8 + n].decode("utf-8", "replace")
    if code == _FX_NO_SUCH_FILE:
        return FileNotFoundError(errno.ENOENT, text or "No such file")
    if code == _FX_PERMISSION_DENIED:
        return PermissionError(errno.EACCES, text or "Permission denied")
    if code == _FX_EOF:
        return OSError(f"unexpected end of file ({text})")
    return OSError(text or f"SFTP status {code}")


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
        self.key_file = os.path.expanduser(key_file) if key_file else ""
        self.use_agent = use_agent
        if not isinstance(known_hosts, KnownHosts):  # from_config builds it from the paths
            raise TypeError("SFTPStorage needs the KnownHosts to check the server against")
        self.known = known_hosts
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
        self._pkey = None

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
        return f"{self.host}:{self.port}"

    def _unreachable(self, e: BaseException, connecting: bool) -> UnreachableError:
        return unreachable(f"the SFTP server {self._where}", e, connecting, self.host)

    def _open_transport(self) -> paramiko.Transport:
        """TCP + SSH key exchange + host-key check; no credentials offered yet."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as e:
            raise self._unreachable(e, connecting=True) from e
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
        except (*_CONNECTION_ERRORS, OSError) as e:
            t.close()
            raise self._unreachable(e, connecting=True) from e
        return t

    def check_host_key(self) -> None:
        """Connect just far enough to see the server's key; raise HostKeyUnknownError or
        HostKeyChangedError if it is not trusted (front-ends call this before a job)."""
        self._open_transport().close()

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
                elif not is_temp(a.filename):
                    found[key] = RemoteObject(key=key, size=a.st_size or 0)
        return found

    def upload(self, item: TransferItem, ctx: TransferContext) -> UploadResult:
        conn = self._conn()
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
        except _WireError as e:
            self._drop(conn)
            raise self._unreachable(e, connecting=False) from e
        except (*_CONNECTION_ERRORS, OSError) as e:
            raise self._failure(conn, e, target, "writing") from e

    def _remote_algorithm(self, algorithm: str, size: int, resuming: bool,
                          rclone: bool = False) -> str | None:
        """Which checksum command to run on the server (None: none). A resumed file is
        proven whole where the server can (its first part was sent by an earlier attempt);
        otherwise ``verify`` decides: auto for files from 8 MiB, checksum for all.
        ``rclone``: the server is ``rclone serve sftp``."""
        if self.remote_checksum == "off":
            return None
        if not resuming and (self.verify_mode in ("reread", "size") or (
                self.verify_mode == "auto" and size < CHECKSUM_COMMAND_FROM)):
            return None
        if self.remote_checksum != "auto":
            return None if self.remote_checksum in self._no_command else self.remote_checksum
        # OpenSSH: sha1sum first. coreutils' sha256sum reads 2.5 times slower (0.8 s per
        # 256 MiB here, which the upload waits for), and SHA-1 proves the server's copy just
        # as well: it is of the same bytes, read once, that the job's checksum is computed
        # from. rclone serve: md5sum first, as rclone's own client does. rclone computes the
        # MD5 while it writes (local disk) or has it from the backend (an S3 ETag), where
        # SHA-1 means reading the whole file again, perhaps from a remote backend.
        first = ("md5", "sha1") if rclone else ("sha1",)
        for choice in dict.fromkeys((*first, algorithm if algorithm in COMMANDS else "md5",
                                     "md5")):
            if choice not in self._no_command:
                return choice
        return None

    def _open_temp(self, conn: _Connection, temp: str, resume: bool):
        """(handle, 0) for a fresh temporary file, or (None, size) for a partial one of ours
        left by an earlier attempt (one request in the common case: O_EXCL)."""
        wire = conn.wire
        flags = _FXF_WRITE | _FXF_CREAT | _FXF_TRUNC | (_FXF_EXCL if resume else 0)
        rid = wire.open(temp.encode("utf-8"), flags)
        wire.flush()
        handle, e = wire.handle(rid)
        if handle is not None:
            return handle, 0
        if not resume or not conn.transport.is_active():
            raise self._failure(conn, e, temp, "creating") from e
        size = self._size(conn, temp)
        if size is None:
            raise self._failure(conn, e, temp, "creating") from e
        return None, size

    def _send(self, conn: _Connection, item: TransferItem, ctx: TransferContext, target: str,
              temp: str, resume: bool) -> UploadResult:
        handle, offset = self._open_temp(conn, temp, resume)
        with ctx.open_source(item) as src:
            if offset > src.size:
                raise _Restart("the partial file on the server is longer than the file")
            ralg = self._remote_algorithm(item.algorithm, src.size, resuming=offset > 0,
                                          rclone=conn.is_rclone)
            extra = new_hasher(ralg) if ralg and ralg != item.algorithm else None
            if offset:
                self._rehash_prefix(conn, src, ctx, temp, offset, ralg, extra)
                wire = conn.wire
                rid = wire.open(temp.encode("utf-8"), _FXF_READ | _FXF_WRITE)
                wire.flush()
                handle, e = wire.handle(rid)
                if handle is None:
                    if conn.transport.is_active():
                        raise _Restart(f"the partial file cannot be reopened ({e})")
                    raise self._failure(conn, e, temp, "reopening") from e
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

    def _rehash_prefix(self, conn: _Connection, src, ctx: TransferContext, temp: str,
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
            got = self._remote_hash(conn, temp, ralg, offset)
            if got is not None and got != want:
                raise _Restart("the partial file on the server differs from the file")

    def _write(self, conn: _Connection, src, ctx: TransferContext, handle: bytes, offset: int,
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
                        raise self._failure(conn, e, temp, "writing") from e
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
                raise self._failure(conn, e, temp, "writing") from e
        return checksum, src.read_bytes, remote_size, target_free

    def _abandon(self, conn: _Connection, handle: bytes | None) -> None:
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
            self._drop(conn)

    def _verify(self, conn: _Connection, temp: str, size: int, remote_size: int, checksum: str,
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
            got = self._remote_hash(conn, temp, ralg, size)
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

    def _place(self, conn: _Connection, temp: str, target: str, item: TransferItem,
               target_free: bool | None = None) -> None:
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
            raise self._failure(conn, e, target, "moving into place") from e

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
        return digest

    def _read_back(self, conn: _Connection, path: str, algorithm: str,
                   cancel: threading.Event | None, size: int | None = None) -> tuple[str, int]:
        """(checksum, length) of the remote file; ``size``, when known, saves a stat."""
        take = HashingSink(algorithm, cancel)
        try:
            with conn.sftp.open(path, "rb", bufsize=0) as f:
                if size is None:
                    size = f.stat().st_size
                room = conn.sftp.sock.out_max_packet_size - 128
                n = _read_pipelined(conn.sftp, f.handle, size, take,
                                    step=max(4096, min(32768, room)))
        except (*_CONNECTION_ERRORS, OSError) as e:
            raise self._failure(conn, e, path, "reading back") from e
        return take.result()[0], n

    def adopt(self, item: TransferItem, remote: RemoteObject, ctx: TransferContext) -> UploadResult:
        conn = self._conn()
        target = self._remote(item.key)
        where = self.location(item.key)
        with ctx.open_source(item) as src:
            ralg = self._remote_algorithm(item.algorithm, src.size, resuming=False,
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
            got = self._remote_hash(conn, target, ralg, size)
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
        conn = self._conn()
        return self._read_back(conn, self._remote(key), algorithm, cancel)

    def cleanup_task(self, item: TransferItem, ctx: TransferContext) -> None:
        conn = self._conn()
        self._remove(conn, self._remote(temp_name(item)))
