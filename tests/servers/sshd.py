"""OpenSSH's sshd for tests: the SFTP server facilities really run, on a free loopback port,
as the current user, with its own host key and authorized_keys.

    server = SshdServer(tmp_path / "sshd").start()
    server.user, server.client_key (private key file), server.host_key_line (for known_hosts)
    server.root             # a folder to upload into (absolute path)

Needs the Debian package ``openssh-server`` (``/usr/sbin/sshd``) and its privilege-separation
folder ``/run/sshd`` (made here when running as root). Password logins are not tested here:
they would need a system account's password; ``rclone serve sftp`` covers them.
"""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path

import pytest

from tests.servers.loopback import LoopbackServer, ssh_keypair


def sshd_binary() -> str | None:
    return shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd")
                                     else None)


def sshd_unavailable() -> str | None:
    """Why sshd cannot run here, or None."""
    if sshd_binary() is None:
        return "needs OpenSSH's sshd (apt-get install openssh-server)"
    if not os.path.isdir("/run/sshd"):
        try:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        except OSError:
            return "sshd needs its privilege separation folder /run/sshd (sudo mkdir /run/sshd)"
    return None


class SshdServer(LoopbackServer):
    name = "sshd"

    def __init__(self, workdir, *, extra_config: str = "", **kw):
        super().__init__(workdir, **kw)
        w = self.workdir
        self.user = getpass.getuser()
        self.host_key = w / "host_ed25519"
        self.host_public = ssh_keypair(self.host_key)
        self.client_key = w / "client_ed25519"
        self.client_public = ssh_keypair(self.client_key)
        (w / "authorized_keys").write_text(self.client_public + "\n")
        self.root = w / "root"
        self.root.mkdir(exist_ok=True)
        self.extra_config = extra_config

    @property
    def host_key_line(self) -> str:
        kind, blob = self.host_public.split()[:2]
        return f"[{self.host}]:{self.port} {kind} {blob}"

    def command(self) -> list[str]:
        w = self.workdir
        conf = w / "sshd_config"
        conf.write_text(
            f"Port {self.port}\nListenAddress {self.host}\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {w / 'authorized_keys'}\nPidFile {w / 'sshd.pid'}\n"
            "UsePAM no\nStrictModes no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            "MaxStartups 64\nMaxSessions 64\nSubsystem sftp internal-sftp\nLogLevel INFO\n"
            + self.extra_config)
        return [sshd_binary(), "-D", "-e", "-f", str(conf)]

    def path_of(self, key: str) -> Path:
        return self.root / key


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory):
    why = sshd_unavailable()
    if why:
        pytest.skip(why)
    server = SshdServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()
