"""What every loopback server fixture shares: a child process on a free port, polled until it
accepts connections, stopped (or killed, children included) at the end; and the key material
servers need (SSH key pairs, a self-signed TLS certificate), made with ``cryptography``.

    class MyServer(LoopbackServer):
        name = "my server"
        def command(self): return ["my-server", "--port", str(self.port), ...]

    server = MyServer(tmp_path / "srv").start()   # .host, .port; .stop(), .kill(), .restart()

Only processes started here are ever signalled, by their pid (and their own children, found
through psutil).
"""

from __future__ import annotations

import abc
import datetime as dt
import ipaddress
import os
import socket
import subprocess
import time
from pathlib import Path

import psutil


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LoopbackServer(abc.ABC):
    name = "server"

    def __init__(self, workdir: str | os.PathLike, *, port: int | None = None,
                 host: str = "127.0.0.1", start_timeout: float = 20.0):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / f"{self.name.replace(' ', '-')}.log"

    # -- to override
    @abc.abstractmethod
    def command(self) -> list[str]:
        """The server's command line."""

    def env(self) -> dict | None:
        return None

    def ready(self) -> bool:
        """Accepting connections (override for a stronger check)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    # -- life cycle
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self):
        if self.running:
            return self
        fixed = self.port is not None
        for _ in range(1 if fixed else 3):
            if not fixed:
                self.port = free_port(self.host)
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=self.env(),
                                             cwd=str(self.workdir))
            if self._wait_ready():
                return self
            text = self.log()
            self._signal_all(kill=True)
            if fixed or "in use" not in text:
                break
        raise RuntimeError(f"{self.name} did not start on {self.host}:{self.port}; its log:\n"
                           + self.log()[-3000:])

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        delay = 0.005
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.ready():
                return True
            time.sleep(delay)  # polling for the state, not a fixed wait
            delay = min(delay * 2, 0.1)
        return False

    def _signal_all(self, kill: bool) -> None:
        """Stop our process and every process it started (e.g. sshd's per-connection
        children, which outlive their parent otherwise)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        for p in [proc, *children]:
            try:
                p.kill() if kill else p.terminate()
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        psutil.wait_procs(children, timeout=10)

    def stop(self) -> None:
        """Stop it (the port stays in ``self.port``, so that start() comes back on it)."""
        self._signal_all(kill=False)

    def kill(self) -> None:
        """Stop it abruptly (SIGKILL), connections included: a server dying mid-transfer."""
        self._signal_all(kill=True)

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll ``predicate`` until it returns something true; its value is returned."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


# -- key material ----------------------------------------------------------------------------
def ssh_keypair(path: str | os.PathLike, passphrase: str | None = None) -> str:
    """Write an ed25519 private key in OpenSSH format to ``path`` (and ``path.pub``); return
    the public key line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    enc = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
           else serialization.NoEncryption())
    path = Path(path)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.OpenSSH, enc))
    path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    Path(f"{path}.pub").write_text(public + "\n")
    return public


def tls_certificate(folder: str | os.PathLike, host: str = "127.0.0.1") -> tuple[str, str]:
    """A self-signed certificate for ``host`` (it is its own CA): (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DataUploader test CA")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)
