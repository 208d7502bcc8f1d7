"""A real WebDAV server for tests: ``rclone serve webdav`` on a free loopback port.

    server = RcloneWebDAVServer(tmp_path / "dav", user="jdoe", password="pw").start()
    server.url          # http://127.0.0.1:PORT  (https with tls=True; server.ca_file)
    server.path_of(key) # where an object lives on disk

``etag_hash="MD5"`` makes its ETags the MD5 of each file (a server that states checksums);
without it the ETag is opaque and clients must read files back.
Quirks: it ignores ``If-None-Match`` on PUT and answers MKCOL on an existing folder with 201.
Its directory cache keeps what it saw for 5 minutes: put files a test needs through the
server (``put``), not on its disk. (``--dir-cache-time 0s`` would avoid that, but makes its
MOVE take seconds under concurrency.)
"""

from __future__ import annotations

import pytest

from tests.servers.loopback import LoopbackServer, tls_certificate
from tests.servers.rclone_s3 import find_rclone


class RcloneWebDAVServer(LoopbackServer):
    name = "rclone serve webdav"

    def __init__(self, workdir, *, user: str | None = None, password: str | None = None,
                 etag_hash: str | None = None, tls: bool = False, extra_args=(), **kw):
        super().__init__(workdir, **kw)
        self.root = self.workdir / "root"
        self.root.mkdir(exist_ok=True)
        self.user, self.password = user, password
        self.etag_hash = etag_hash
        self.extra_args = tuple(extra_args)
        self.cert = self.key = None
        if tls:
            self.cert, self.key = tls_certificate(self.workdir / "tls")
        (self.workdir / "rclone.conf").write_text("")
        self.rclone = find_rclone()

    @property
    def ca_file(self) -> str | None:
        return self.cert

    @property
    def url(self) -> str:
        return f"{'https' if self.cert else 'http'}://{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [self.rclone, "serve", "webdav", "--config", str(self.workdir / "rclone.conf"),
               "--addr", f"{self.host}:{self.port}",
               "--log-level", "NOTICE"]
        if self.user:
            cmd += ["--user", self.user, "--pass", self.password]
        if self.etag_hash:
            cmd += ["--etag-hash", self.etag_hash]
        if self.cert:
            cmd += ["--cert", self.cert, "--key", self.key]
        return [*cmd, *self.extra_args, str(self.root)]

    def path_of(self, key: str):
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        """Create a file through the server (making its folders), as another client would."""
        import requests

        auth = (self.user, self.password) if self.user else None
        verify = self.cert or True
        parts = key.split("/")
        for i in range(1, len(parts)):
            requests.request("MKCOL", f"{self.url}/{'/'.join(parts[:i])}/", auth=auth,
                             verify=verify, timeout=30)
        r = requests.put(f"{self.url}/{key}", data=data, auth=auth, verify=verify, timeout=30)
        r.raise_for_status()


@pytest.fixture(scope="session")
def webdav_server(tmp_path_factory):
    """``rclone serve webdav`` with basic auth (jdoe / dav-secret) and opaque ETags, shared by
    the session. Tests that stop a server start their own."""
    server = RcloneWebDAVServer(tmp_path_factory.mktemp("webdav"), user="jdoe",
                                password="dav-secret").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def webdav_md5_server(tmp_path_factory):
    """``rclone serve webdav --etag-hash MD5``: a server that states each file's MD5."""
    server = RcloneWebDAVServer(tmp_path_factory.mktemp("webdav-md5"), user="jdoe",
                                password="dav-secret", etag_hash="MD5").start()
    yield server
    server.stop()
