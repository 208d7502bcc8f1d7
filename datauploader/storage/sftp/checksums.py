"""The server's checksum of an uploaded file: which command to run for a file, and running it.

Where remote commands are allowed: ``sha1sum`` on OpenSSH with a shell (the fastest there),
``md5sum`` on ``rclone serve sftp`` (which has the MD5 from the write, or from its backend);
the ``remote_checksum`` setting may choose another. With ``verify = auto`` only files from
8 MiB are checksummed on the server: for smaller files a command costs more than it proves
(OpenSSH starts a process for it, ~80 ms; SSH's MAC already protects the bytes on the way).
A command that is refused or answers nonsense is not asked for again.
"""

from __future__ import annotations

import logging
import shlex
import socket

from datauploader.errors import TransientError
from datauploader.storage.sftp.paramiko_import import paramiko
from datauploader.storage.sftp.transport import CONNECTION_ERRORS, Connection, SSHConnections

log = logging.getLogger(__name__)

MiB = 1 << 20
CHECKSUM_COMMAND_FROM = 8 * MiB  # below this, reading back beats a remote process…
COMMANDS = {"sha256": "sha256sum", "md5": "md5sum", "sha1": "sha1sum"}
DIGEST_LEN = {"sha256": 64, "md5": 32, "sha1": 40}


class RemoteChecksums:
    """The checksum commands of one server, under the ``remote_checksum`` and ``verify``
    settings; remembers the commands that do not work there."""

    def __init__(self, ssh: SSHConnections, remote_checksum: str, verify_mode: str):
        self._ssh = ssh
        self.remote_checksum = remote_checksum
        self.verify_mode = verify_mode
        self._no_command: set[str] = set()  # algorithms whose checksum command failed

    def choose(self, algorithm: str, size: int, *, resuming: bool, rclone: bool) -> str | None:
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

    def run(self, conn: Connection, path: str, algorithm: str, size: int) -> str | None:
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
            chan = conn.transport.open_session(timeout=self._ssh.connect_timeout)
        except paramiko.ChannelException:
            self._no_command.add(algorithm)  # sessions refused: an SFTP-only account
            return None
        except CONNECTION_ERRORS as e:
            raise self._ssh.failure(conn, e, path, "checksumming") from e
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
            raise self._ssh.failure(conn, e, path, "checksumming") from e
        except (socket.timeout, TimeoutError) as e:
            raise TransientError(f"The SFTP server {self._ssh.where} took too long to checksum "
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

