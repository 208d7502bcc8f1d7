"""``rclone serve sftp`` for tests, on a free loopback port, with a host key, an authorized
client key and a user name + password.

    server = RcloneSFTPServer(tmp_path / "sftp").start()
    server.user, server.password, server.client_key, server.host_key_line, server.root

It runs with ``--vfs-cache-mode writes`` (without it, it cannot reopen a file to append,
which resuming needs) and ``--vfs-write-back 0s`` (files reach the disk when closed); its
directory cache is off, so files a test puts on disk behind its back are seen at once.
Its remote "shell" answers md5sum/sha1sum/sha256sum (paths unquoted). Note that its SFTP
rename replaces an existing target, unlike OpenSSH's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers.loopback import LoopbackServer, ssh_keypair
from tests.servers.rclone_s3 import find_rclone


class RcloneSFTPServer(LoopbackServer):
    name = "rclone serve sftp"

    def __init__(self, workdir, *, user: str = "jdoe", password: str = "sftp-secret",
                 extra_args=(), **kw):
        super().__init__(workdir, **kw)
        w = self.workdir
        self.user, self.password = user, password
        self.host_key = w / "host_ed25519"
        self.host_public = ssh_keypair(self.host_key)
        self.client_key = w / "client_ed25519"
        self.client_public = ssh_keypair(self.client_key)
        (w / "authorized_keys").write_text(self.client_public + "\n")
        (w / "rclone.conf").write_text("")
        self.root = w / "root"
        self.root.mkdir(exist_ok=True)
        self.extra_args = tuple(extra_args)
        self.rclone = find_rclone()

    @property
    def host_key_line(self) -> str:
        kind, blob = self.host_public.split()[:2]
        return f"[{self.host}]:{self.port} {kind} {blob}"

    def command(self) -> list[str]:
        w = self.workdir
        return [self.rclone, "serve", "sftp", "--config", str(w / "rclone.conf"),
                "--addr", f"{self.host}:{self.port}", "--key", str(self.host_key),
                "--authorized-keys", str(w / "authorized_keys"),
                "--user", self.user, "--pass", self.password,
                "--vfs-cache-mode", "writes", "--vfs-write-back", "0s",
                "--cache-dir", str(w / "cache"),
                "--log-level", "NOTICE", *self.extra_args, str(self.root)]

    def path_of(self, key: str) -> Path:
        return self.root / key


@pytest.fixture(scope="session")
def rclone_sftp_server(tmp_path_factory):
    server = RcloneSFTPServer(tmp_path_factory.mktemp("rclone-sftp")).start()
    yield server
    server.stop()
