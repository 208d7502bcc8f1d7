"""Single sign-on against a real OpenID provider (``oidc-provider`` on Node.js, on loopback):
``net.oidc`` (discovery, the authorization code with PKCE through a browser and the loopback
redirect, refresh, revocation), and an etiket upload from the command line whose login is a
single sign-on, the browser being the ``BROWSER`` environment variable's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from datauploader.errors import AuthError
from datauploader.net.oidc import OAuthClient, discover
from tests.servers.etiket_emulator import EtiketServer
from tests.servers.oidc_provider import OIDCProvider, sign_in

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    p = OIDCProvider(tmp_path_factory.mktemp("oidc")).start()
    yield p
    p.stop()


def client(provider, scopes=("openid", "offline_access", "profile")) -> tuple:
    found = discover(provider.issuer)
    return found, OAuthClient("datauploader", found.token_endpoint, scopes=scopes,
                              what="the identity provider")


def test_code_flow_with_pkce_refresh_and_revocation(provider):
    found, oauth = client(provider)
    assert found.issuer == provider.issuer and found.revocation_endpoint
    seen = []

    def browser(url):
        seen.append(url)
        return sign_in(url, "alice")
    tokens = oauth.authorize(found.authorization_endpoint, open_browser=browser)
    assert "code_challenge_method=S256" in seen[0] and "code_challenge=" in seen[0]
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in seen[0]
    assert tokens.access_token and tokens.refresh_token and tokens.id_token
    assert tokens.expires_at and tokens.lifetime() > 0

    fresh = oauth.refresh(tokens.refresh_token)
    assert fresh.access_token != tokens.access_token and fresh.refresh_token
    assert oauth.revoke(found.revocation_endpoint, fresh.refresh_token)
    with pytest.raises(AuthError, match="did not accept the kept login"):
        oauth.refresh(fresh.refresh_token)


def test_a_sign_in_that_is_refused_or_abandoned_is_said_plainly(provider):
    found, oauth = client(provider)
    with pytest.raises(AuthError, match="No web browser could be opened"):
        oauth.authorize(found.authorization_endpoint, open_browser=lambda url: False)
    with pytest.raises(AuthError, match="not completed in the browser within 1 s"):
        oauth.authorize(found.authorization_endpoint, open_browser=lambda url: True, wait=1)


def test_an_etiket_upload_whose_login_is_a_single_sign_on(provider, tmp_path, cli):
    server = EtiketServer(tmp_path / "etiket", oidc_issuer=provider.issuer).start()
    try:
        root = tmp_path / "acq" / "run_7"
        root.mkdir(parents=True)
        for i in range(3):
            (root / f"trace_{i}.h5").write_bytes(os.urandom(1000 + i))
        config = tmp_path / "sso.ini"
        config.write_text(
            "[settings]\ndefault_profile = etiket\n[profile:etiket]\ncatalogue = etiket\n"
            "storage = files\n" + server.catalogue_ini("etiket", (
                f"auth = sso\nsso_config_url = {provider.issuer}\nsso_client_id = datauploader\n"
                "sso_scopes = openid offline_access profile\n")) +
            "\n[storage:files]\ntype = etiket\ncatalogue = etiket\n")
        env = {**os.environ, **cli.env, "SSO_USER": "alice",
               "BROWSER": f"{sys.executable} -m tests.servers.oidc_provider %s"}
        done = subprocess.run([sys.executable, "-m", "datauploader", "--config", str(config),
                               "upload", "--proposal", "qlab-cooldown-7", "--dataset", "run 7",
                               "--json", str(root)], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr + done.stdout
        (ds,) = server.state()["datasets"]
        assert ds["creator"] == "alice" and len(ds["files"]) == 3
        assert all(f["status"] == "secured" for f in ds["files"])
    finally:
        server.stop()
