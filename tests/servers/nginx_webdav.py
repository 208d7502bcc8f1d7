"""A second, independent WebDAV server: nginx with its dav module and dav-ext (PROPFIND),
behind a bearer-token check. Debian packages ``nginx`` and ``libnginx-mod-http-dav-ext``.

    server = NginxWebDAVServer(tmp_path / "nginx", token="t0k3n").start()
    server.url, server.token, server.path_of(key)

Quirks (docs/development.md, "The servers"): no ``getetag`` in PROPFIND, ETags are opaque (mtime-size), MKCOL on
an existing folder answers 405 (the RFC's answer), PUT replaces an existing file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.servers.loopback import LoopbackServer

DAV_EXT = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so"


def nginx_binary() -> str | None:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                      else None)
    return found if found and os.path.exists(DAV_EXT) else None


class NginxWebDAVServer(LoopbackServer):
    name = "nginx webdav"

    def __init__(self, workdir, *, token: str, **kw):
        super().__init__(workdir, **kw)
        self.token = token
        self.root = self.workdir / "root"
        self.root.mkdir(exist_ok=True)
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.workdir / d).mkdir(exist_ok=True)
        self.nginx = nginx_binary()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _config(self) -> Path:
        w = self.workdir
        user = "user root root;\n" if os.geteuid() == 0 else ""  # else workers are 'nobody'
        conf = w / "nginx.conf"
        conf.write_text(f"""load_module {DAV_EXT};
daemon off;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/error.log info;
{user}events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {w}/body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    client_max_body_size 0;
    server {{
        listen {self.host}:{self.port};
        root {self.root};
        location / {{
            if ($http_authorization != "Bearer {self.token}") {{ return 401; }}
            dav_methods PUT DELETE MKCOL COPY MOVE;
            dav_ext_methods PROPFIND OPTIONS;
            dav_access user:rw group:rw all:r;
        }}
    }}
}}
""")
        return conf

    def command(self) -> list[str]:
        return [self.nginx, "-c", str(self._config()), "-p", str(self.workdir),
                "-e", str(self.workdir / "error.log")]

    def path_of(self, key: str) -> Path:
        return self.root / key


@pytest.fixture(scope="session")
def nginx_webdav(tmp_path_factory):
    if nginx_binary() is None:
        pytest.skip("needs nginx and libnginx-mod-http-dav-ext (apt-get install nginx "
                    "libnginx-mod-http-dav-ext)")
    server = NginxWebDAVServer(tmp_path_factory.mktemp("nginx"), token="du-bearer-token-42")
    server.start()
    yield server
    server.stop()
