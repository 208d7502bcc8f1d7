"""SSH host keys are never trusted silently: an unknown key stops before any credential is
offered and is trusted only on an explicit yes (a terminal prompt, or ``trust-host`` with the
fingerprint the facility published); a changed key is a loud error, never a question."""

from __future__ import annotations

import base64
import hashlib
import os
import pty
import select
import shutil
import subprocess
import sys
import time

import pytest

from datauploader.errors import ExitCode
from datauploader.storage.sftp.hostkeys import (HostKeyChangedError, HostKeyUnknownError,
                                                KnownHosts, add_known_host, host_entry,
                                                read_known_hosts)
from tests.servers.loopback import ssh_keypair
from tests.servers.rclone_sftp import rclone_sftp_server  # noqa: F401
from tests.servers.sshd import sshd_server  # noqa: F401

pytestmark = pytest.mark.integration


def published_fingerprint(public_key_file) -> str:
    """What the facility publishes: OpenSSH's own ssh-keygen -lf (or the same computation)."""
    if shutil.which("ssh-keygen"):
        out = subprocess.run(["ssh-keygen", "-lf", str(public_key_file)], capture_output=True,
                             text=True, check=True).stdout
        return out.split()[1]
    blob = base64.b64decode(open(public_key_file).read().split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@pytest.fixture
def setup(tmp_path, sshd_server):  # noqa: F811
    """A configuration for the sshd fixture and a user whose known_hosts does not know it."""
    home = tmp_path / "userhome"
    (home / ".ssh").mkdir(parents=True)
    s = sshd_server
    ini = tmp_path / "sftp.ini"
    ini.write_text(
        "[settings]\ndefault_profile = sftp\n[profile:sftp]\ncatalogue = local\nstorage = beam\n"
        f"[storage:beam]\ntype = sftp\nhost = 127.0.0.1\nport = {s.port}\nusername = {s.user}\n"
        f"path = {s.root}\nkey_file = {s.client_key}\nuse_agent = no\n")
    data = tmp_path / "data" / "run"
    data.mkdir(parents=True)
    (data / "a.bin").write_bytes(os.urandom(2000))
    return {"ini": ini, "env": {"HOME": str(home)}, "data": data, "server": s, "home": home,
            "fingerprint": published_fingerprint(f"{s.host_key}.pub")}


def our_known_hosts(cli_home):
    return cli_home / "config" / "known_hosts"


def test_unknown_key_stops_before_any_credential_and_says_how_to_trust_it(cli, setup, home):
    s = setup["server"]
    log_before = s.log()
    proposal = f"P{os.getpid()}{time.monotonic_ns()}"
    r = cli("--config", setup["ini"], "upload", "--proposal", proposal, "--dataset", "D",
            setup["data"], env=setup["env"])
    assert r.code == ExitCode.AUTH
    fp = setup["fingerprint"]
    assert fp in r.err and "ssh-ed25519" in r.err
    assert f"datauploader trust-host beam --fingerprint {fp}" in r.err
    assert not (s.root / proposal).exists()
    # no key was offered to the unknown server: sshd logged no authentication at all
    new_log = s.log()[len(log_before):]
    assert "Accepted" not in new_log and "publickey" not in new_log
    assert not our_known_hosts(home).exists()
    r = cli("jobs", "--json", env=setup["env"])
    assert r.json == []  # stopped before a job was created


def test_trust_host_with_the_published_fingerprint_then_upload(cli, setup, home):
    fp = setup["fingerprint"]
    r = cli("--config", setup["ini"], "trust-host", "beam", "--fingerprint", fp, env=setup["env"])
    assert r.code == 0, r.err
    assert f"Trusted the ssh-ed25519 key {fp}" in r.out
    entries = read_known_hosts(str(our_known_hosts(home)))
    assert [(e.names, e.key_type, e.fingerprint) for e in entries] == [
        ((f"[127.0.0.1]:{setup['server'].port}",), "ssh-ed25519", fp)]
    assert (os.stat(our_known_hosts(home)).st_mode & 0o777) == 0o600
    r = cli("--config", setup["ini"], "trust-host", "beam", env=setup["env"])
    assert r.code == 0 and "already trusted" in r.out
    r = cli("--config", setup["ini"], "upload", "--json", "--proposal", "PT", "--dataset", "D",
            setup["data"], env=setup["env"])
    assert r.code == 0 and r.json["files_ok"] == 1
    assert len(read_known_hosts(str(our_known_hosts(home)))) == 1


def test_trust_host_with_another_fingerprint_trusts_nothing(cli, setup, home):
    wrong = "SHA256:" + base64.b64encode(os.urandom(32)).decode().rstrip("=")
    r = cli("--config", setup["ini"], "trust-host", "beam", "--fingerprint", wrong,
            env=setup["env"])
    assert r.code == ExitCode.AUTH
    assert "WARNING" in r.err and wrong in r.err and setup["fingerprint"] in r.err
    assert not our_known_hosts(home).exists()


def test_trust_host_off_a_terminal_without_fingerprint_prints_the_command(cli, setup, home):
    r = cli("--config", setup["ini"], "trust-host", "beam", env=setup["env"])
    assert r.code == ExitCode.USAGE
    assert f"datauploader trust-host beam --fingerprint {setup['fingerprint']}" in r.err
    assert not our_known_hosts(home).exists()


def test_a_key_in_the_users_openssh_known_hosts_is_trusted(cli, setup, home):
    (setup["home"] / ".ssh" / "known_hosts").write_text(setup["server"].host_key_line + "\n")
    r = cli("--config", setup["ini"], "upload", "--json", "--proposal", "PU", "--dataset", "D",
            setup["data"], env=setup["env"])
    assert r.code == 0, r.err
    assert not our_known_hosts(home).exists()  # nothing written: it was known


def test_a_changed_key_is_a_loud_error_never_a_question(cli, setup, tmp_path, home):
    other = ssh_keypair(tmp_path / "impostor").split()
    port = setup["server"].port
    (setup["home"] / ".ssh" / "known_hosts").write_text(
        f"[127.0.0.1]:{port} {other[0]} {other[1]}\n")
    r = cli("--config", setup["ini"], "upload", "--proposal", "PC", "--dataset", "D",
            setup["data"], env=setup["env"])
    assert r.code == ExitCode.AUTH
    assert r.err.startswith("error: WARNING: the SFTP server 127.0.0.1:")
    assert "different host key" in r.err and setup["fingerprint"] in r.err
    assert str(setup["home"] / ".ssh" / "known_hosts") in r.err and "line 1" in r.err
    r = cli("--config", setup["ini"], "trust-host", "beam", "--fingerprint",
            setup["fingerprint"], env=setup["env"])
    assert r.code == ExitCode.AUTH and "different host key" in r.err
    assert not our_known_hosts(home).exists()
    # on a terminal too: no prompt, the same error
    out, code = run_on_terminal(setup, "y\n", "upload", "--proposal", "PC", "--dataset", "D",
                                str(setup["data"]))
    assert code == ExitCode.AUTH and "Trust it?" not in out and "different host key" in out


def run_on_terminal(setup, answer: str, *argv, timeout: float = 60) -> tuple[str, int]:
    """Run the command line with a terminal as stdin and stderr (as a user at a shell would),
    type ``answer`` when asked; returns (everything it printed, exit status)."""
    master, slave = pty.openpty()
    env = {**os.environ, **setup["env"], "DATAUPLOADER_HOME": str(setup["ini"].parent / "home"),
           "DATAUPLOADER_SYSTEM_CONFIG": str(setup["ini"].parent / "none.ini"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    proc = subprocess.Popen([sys.executable, "-m", "datauploader", "--config",
                             str(setup["ini"]), *argv], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    out = b""
    answered = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal closed: the process ended
                break
            if not chunk:
                break
            out += chunk
            if not answered and b"[y/N]" in out:
                os.write(master, answer.encode())
                answered = True
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=30)
    os.close(master)
    return out.decode("utf-8", "replace"), code


def test_on_a_terminal_the_user_is_asked_and_yes_trusts(setup):
    out, code = run_on_terminal(setup, "y\n", "upload", "--proposal", "PY", "--dataset", "D",
                                str(setup["data"]))
    assert "Trust it? [y/N]" in out and setup["fingerprint"] in out
    assert code == 0, out
    assert (setup["server"].root / "PY" / "D" / "run" / "a.bin").read_bytes() == \
        (setup["data"] / "a.bin").read_bytes()
    entries = read_known_hosts(str(setup["ini"].parent / "home" / "config" / "known_hosts"))
    assert [e.fingerprint for e in entries] == [setup["fingerprint"]]


def test_on_a_terminal_anything_but_yes_refuses(setup):
    out, code = run_on_terminal(setup, "\n", "upload", "--proposal", "PN", "--dataset", "D",
                                str(setup["data"]))
    assert "Trust it? [y/N]" in out
    assert code == ExitCode.AUTH
    assert not (setup["server"].root / "PN").exists()
    assert not (setup["ini"].parent / "home" / "config" / "known_hosts").exists()


# -- the known_hosts files themselves --------------------------------------------------------
def test_known_hosts_matching_rules(tmp_path, rclone_sftp_server):  # noqa: F811
    """Hashed names, other ports, @revoked, and a host known only by another key type."""
    s = rclone_sftp_server
    kind, blob = s.host_public.split()[:2]
    name = host_entry("127.0.0.1", s.port)
    salt = os.urandom(20)
    hashed = "|1|{}|{}".format(base64.b64encode(salt).decode(), base64.b64encode(
        __import__("hmac").new(salt, name.encode(), hashlib.sha1).digest()).decode())
    user = tmp_path / "known_hosts"

    def known(text):
        user.write_text(text)
        return KnownHosts(str(tmp_path / "ours"), (str(user),))

    assert known(f"{hashed} {kind} {blob}\n").check("127.0.0.1", s.port, kind, blob) == str(user)
    with pytest.raises(HostKeyUnknownError):  # same host, other port: not the same server
        known(f"127.0.0.1 {kind} {blob}\n").check("127.0.0.1", s.port, kind, blob)
    with pytest.raises(HostKeyChangedError, match="revoked"):
        known(f"@revoked {name} {kind} {blob}\n{name} {kind} {blob}\n").check(
            "127.0.0.1", s.port, kind, blob)
    rsa = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQC" + "A" * 40
    with pytest.raises(HostKeyChangedError, match="different host key"):
        known(f"{name} ssh-rsa {rsa}\n").check("127.0.0.1", s.port, kind, blob)
    k = known("# comment\n\ngarbage\n")
    with pytest.raises(HostKeyUnknownError) as e:
        k.check("127.0.0.1", s.port, kind, blob, storage="beam")
    e.value.trust()
    e.value.trust()  # twice: recorded once
    assert [x.fingerprint for x in read_known_hosts(str(tmp_path / "ours"))] == \
        [published_fingerprint(f"{s.host_key}.pub")]
    assert k.check("127.0.0.1", s.port, kind, blob) == str(tmp_path / "ours")
    add_known_host(str(tmp_path / "ours"), "127.0.0.1", s.port, kind, blob)
    assert len(read_known_hosts(str(tmp_path / "ours"))) == 1
