"""Known SSH host keys: a server is never trusted silently.

A host key is looked up in the user's OpenSSH file (``~/.ssh/known_hosts``, only read) and in
our own file (``<config dir>/known_hosts``, the only one we write, and only after the user
confirmed the fingerprint). The check runs right after the key exchange, before any
password or key is offered, so an impostor learns nothing.

* A key that matches a known entry: go on.
* A host that is not known at all: ``HostKeyUnknownError`` carrying host, port, key type and
  SHA256 fingerprint. The front-ends ask the user (CLI on a terminal, a dialog in the GUI)
  and call ``error.trust()`` only on an explicit yes.
* A host that is known with another key (or only with key types the server no longer offers),
  or a key marked ``@revoked``: ``HostKeyChangedError``, a loud error that is never turned
  into a question.

Lines are parsed here rather than by paramiko's ``HostKeys`` so that ``@revoked`` and
``@cert-authority`` markers, key types paramiko cannot load, and the file and line of an
entry (for the changed-key message) are all handled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass

from datauploader.errors import AuthError, UnknownHostKeyError

_write_lock = threading.Lock()


def host_entry(host: str, port: int) -> str:
    """The name OpenSSH records for ``host:port`` (``[host]:port`` unless port 22)."""
    return host if int(port) == 22 else f"[{host}]:{int(port)}"


def fingerprint_of_blob(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint: ``SHA256:`` + unpadded base64 of the key blob's sha256."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def user_known_hosts(env) -> str:
    """``~/.ssh/known_hosts`` of the user in ``env`` (HOME, else USERPROFILE, else ~)."""
    home = env.get("HOME") or env.get("USERPROFILE") or os.path.expanduser("~")
    return os.path.join(home, ".ssh", "known_hosts")


class HostKeyError(AuthError):
    """Base class: the server's identity is not established; nothing was sent to it."""

    def __init__(self, message: str, *, host: str, port: int, key_type: str, key_base64: str):
        super().__init__(message)
        self.host = host
        self.port = int(port)
        self.key_type = key_type
        self.key_base64 = key_base64
        self.fingerprint = fingerprint_of_blob(base64.b64decode(key_base64))


class HostKeyUnknownError(HostKeyError, UnknownHostKeyError):
    """The server is not known yet: ask the user to compare the fingerprint, then trust it."""

    def __init__(self, *, host: str, port: int, key_type: str, key_base64: str,
                 trust_file: str, storage: str | None = None):
        fp = fingerprint_of_blob(base64.b64decode(key_base64))
        how = (f"trust it with 'datauploader trust-host {storage} --fingerprint {fp}' or confirm "
               "it when logging in from the desktop application" if storage else
               "confirm it when asked")
        super().__init__(
            f"The SFTP server {host}:{port} is not known on this computer yet; its {key_type} "
            f"host key has the fingerprint {fp}. If your facility confirms this fingerprint, "
            f"{how}.", host=host, port=port, key_type=key_type, key_base64=key_base64)
        self.trust_file = trust_file
        self.storage = storage

    def trust(self) -> None:
        """Record the key in our known_hosts file (call only after the user said yes)."""
        add_known_host(self.trust_file, self.host, self.port, self.key_type, self.key_base64)


class HostKeyChangedError(HostKeyError):
    """The server presents another key than the one recorded: possibly an attack."""

    def __init__(self, *, host: str, port: int, key_type: str, key_base64: str,
                 known: "KnownEntry", revoked: bool = False):
        fp = fingerprint_of_blob(base64.b64decode(key_base64))
        where = f"{known.file} line {known.line}"
        if revoked:
            text = (f"WARNING: the SFTP server {host}:{port} presented a host key that is marked "
                    f"as revoked in {where} ({key_type} {fp}). Nothing was sent to it. Tell "
                    "your facility's IT.")
        else:
            text = (f"WARNING: the SFTP server {host}:{port} presented a different host key "
                    f"({key_type} {fp}) from the one recorded in {where} ({known.key_type} "
                    f"{known.fingerprint}). Someone may be intercepting the connection, or the "
                    "server was reinstalled. Nothing was sent to it. Ask your facility; only if "
                    "they confirm the new key, remove the old entry from that file.")
        super().__init__(text, host=host, port=port, key_type=key_type, key_base64=key_base64)
        self.known = known


@dataclass(frozen=True)
class KnownEntry:
    names: tuple[str, ...]
    key_type: str
    key_base64: str
    marker: str | None  # None, "@revoked" or "@cert-authority"
    file: str
    line: int

    @property
    def fingerprint(self) -> str:
        try:
            return fingerprint_of_blob(base64.b64decode(self.key_base64))
        except ValueError:
            return "(unreadable key)"

    def matches(self, name: str) -> bool:
        for pattern in self.names:
            if pattern.startswith("|1|"):
                try:
                    _, _, salt, digest = pattern.split("|", 3)
                    mac = hmac.new(base64.b64decode(salt), name.encode("utf-8"), hashlib.sha1)
                    if hmac.compare_digest(mac.digest(), base64.b64decode(digest)):
                        return True
                except ValueError:
                    continue
            elif pattern.lower() == name.lower():
                return True
        return False


def read_known_hosts(path: str) -> list[KnownEntry]:
    """Entries of one OpenSSH known_hosts file; unreadable files and lines are skipped."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return []
    out = []
    for number, raw in enumerate(lines, 1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = None
        if fields[0].startswith("@"):
            marker = fields.pop(0)
        if len(fields) < 3:
            continue
        out.append(KnownEntry(tuple(fields[0].split(",")), fields[1], fields[2], marker, path,
                              number))
    return out


def add_known_host(path: str, host: str, port: int, key_type: str, key_base64: str) -> None:
    """Append one entry (unless it is there already); the file is private to the user."""
    line = f"{host_entry(host, port)} {key_type} {key_base64}\n"
    with _write_lock:
        for e in read_known_hosts(path):
            if e.marker is None and e.matches(host_entry(host, port)) and \
                    (e.key_type, e.key_base64) == (key_type, key_base64):
                return
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(line)


class KnownHosts:
    """The known keys of the user (read only) and ours (written on confirmation)."""

    def __init__(self, own_file: str, read_files: tuple[str, ...] = ()):
        self.own_file = own_file
        self.read_files = tuple(read_files)

    def entries(self, host: str, port: int) -> list[KnownEntry]:
        name = host_entry(host, port)
        found = []
        for path in (*self.read_files, self.own_file):
            found += [e for e in read_known_hosts(path) if e.matches(name)]
        return found

    def preferred_key_types(self, host: str, port: int) -> list[str]:
        """Key types already recorded for the host: asked for first, so that a server with
        several keys shows the one we know."""
        types = []
        for e in self.entries(host, port):
            if e.marker is None and e.key_type not in types:
                types.append(e.key_type)
        return types

    def check(self, host: str, port: int, key_type: str, key_base64: str,
              storage: str | None = None) -> str:
        """Return the file that vouches for the key, or raise HostKeyUnknownError /
        HostKeyChangedError."""
        entries = self.entries(host, port)
        ident = dict(host=host, port=port, key_type=key_type, key_base64=key_base64)
        for e in entries:
            if e.marker == "@revoked" and e.key_base64 == key_base64:
                raise HostKeyChangedError(**ident, known=e, revoked=True)
        plain = [e for e in entries if e.marker is None]
        for e in plain:
            if (e.key_type, e.key_base64) == (key_type, key_base64):
                return e.file
        if plain:
            same_type = [e for e in plain if e.key_type == key_type]
            raise HostKeyChangedError(**ident, known=(same_type or plain)[0])
        raise HostKeyUnknownError(**ident, trust_file=self.own_file, storage=storage)
