"""A real OpenID provider on loopback: ``oidc-provider`` (the certified Node.js
implementation) on Node.js, installed once with npm into a cache folder
(``$XDG_CACHE_HOME/datauploader-tests/oidc-provider``, or ``~/.cache/…``).

It serves discovery, the authorization endpoint with its development login and consent pages
(any user name and password sign in), the token endpoint (authorization code with PKCE,
refresh tokens), userinfo and revocation. One public native client, ``datauploader``, may
redirect to a loopback address on any port (RFC 8252).

``sign_in(url, user)`` is the person at the browser: it follows the authorization URL through
the login and consent forms as a browser would (cookies, redirects, form posts) until the
provider sends it to the loopback redirect. ``python -m tests.servers.oidc_provider URL`` does
the same, for a ``BROWSER`` environment variable.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from tests.servers.rclone_s3 import free_port

VERSION = "9.13.3"
SCRIPT = r"""
import Provider from 'oidc-provider';
const port = Number(process.argv[2]);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{ client_id: 'datauploader', application_type: 'native',
              token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/'],
              grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }],
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  claims: { openid: ['sub'], profile: ['preferred_username'], email: ['email'] },
  features: { devInteractions: { enabled: true }, revocation: { enabled: true } },
  issueRefreshToken: async () => true,
  findAccount: async (ctx, id) => ({ accountId: id,
    claims: async () => ({ sub: id, preferred_username: id, email: `${id}@example.org` }) }),
  ttl: { AccessToken: 3600, IdToken: 3600, RefreshToken: 86400, Grant: 86400,
         Interaction: 600, Session: 86400 },
});
provider.listen(port, '127.0.0.1', () => console.log('ready'));
"""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "datauploader-tests" / "oidc-provider"


def install() -> Path:
    """oidc-provider in the cache folder (npm install once); returns the folder."""
    folder = cache_dir()
    if not (folder / "node_modules" / "oidc-provider" / "package.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
                        "--prefix", str(folder), f"oidc-provider@{VERSION}"], check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    (folder / "provider.mjs").write_text(SCRIPT)
    return folder


class OIDCProvider:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "OIDCProvider":
        import requests

        folder = install()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = open(self.workdir / "oidc-provider.log", "ab")
        self.proc = subprocess.Popen(["node", str(folder / "provider.mjs"), str(self.port)],
                                     cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(self.issuer + "/.well-known/openid-configuration",
                                timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("oidc-provider did not start: "
                           + (self.workdir / "oidc-provider.log").read_text(errors="replace"))

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def _form(page: str, base: str) -> tuple[str, dict[str, str]]:
    m = re.search(r"<form[^>]*action=\"([^\"]+)\"[^>]*>(.*?)</form>", page, re.S)
    if not m:
        raise AssertionError("no form on the provider's page:\n" + page[:2000])
    fields = {}
    for tag in re.findall(r"<(?:input|button)[^>]*>", m.group(2)):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    return urljoin(base, html.unescape(m.group(1))), fields


def sign_in(url: str, user: str = "alice") -> bool:
    """The person at the browser: sign in as ``user``, give consent, follow the redirect to
    the loopback listener (whose page ends the walk)."""
    import requests

    s = requests.Session()
    resp = s.get(url, timeout=30)
    for _ in range(6):
        if urlsplit(resp.url).port != urlsplit(url).port:
            return True  # handed to the loopback redirect
        action, fields = _form(resp.text, resp.url)
        if "login" in fields or "password" in fields:
            fields.update(login=user, password="any")
        resp = s.post(action, data=fields, timeout=30)
    return False


if __name__ == "__main__":  # a BROWSER for the command line: sign in as $SSO_USER
    sys.exit(0 if sign_in(sys.argv[1], os.environ.get("SSO_USER", "alice")) else 1)
