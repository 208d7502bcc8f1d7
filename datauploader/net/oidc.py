"""OAuth 2.0 and OpenID Connect logins, for every catalogue that takes them.

* **The provider** is found by discovery (``/.well-known/openid-configuration``, RFC 8414 and
  OpenID Connect Discovery): its authorization, token, revocation and userinfo endpoints.
* **Single sign-on**: the authorization-code flow with PKCE (S256, RFC 7636) in the system
  browser, the code coming back to a loopback listener on a free port of this computer
  (RFC 8252: ``http://127.0.0.1:<port>/``), checked against the ``state`` sent. No client
  secret: a desktop program is a public client.
* **Password grant** (RFC 6749 §4.3) for servers that issue their own tokens, **refresh**
  (single-use refresh tokens are the caller's to keep: each refresh answers a new one), and
  **revocation** (RFC 7009).

The protocol is Authlib's (``authlib.integrations.requests_client.OAuth2Session``); this
module adds the loopback listener, time-outs, TLS settings, and one plain sentence per way a
login fails. Network failures are worded by ``net.webclient``, as for every other server.
"""

from __future__ import annotations

import http.server
import logging
import secrets
import threading
import time
import webbrowser
from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from datauploader.errors import AuthError, ConfigError, TransientError, UserFacingError
from datauploader.net.webclient import WebClient, json_or_none, network_errors, where

log = logging.getLogger(__name__)

WELL_KNOWN = "/.well-known/openid-configuration"
#: how long the browser may take for the user to sign in
BROWSER_WAIT = 300.0


@dataclass(frozen=True)
class Provider:
    """An OpenID provider's endpoints, as its discovery document states them."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str = ""
    userinfo_endpoint: str = ""


def discover(url: str, *, verify: bool | str = True, timeout: float = 30.0,
             what: str = "the identity provider") -> Provider:
    """The provider at ``url`` (its issuer, or the address of its discovery document)."""
    address = url if url.rstrip("/").endswith(WELL_KNOWN) else url.rstrip("/") + WELL_KNOWN
    web = WebClient(address, verify=verify, timeout=(10.0, timeout), what=what)
    try:
        resp = web.request("GET", address)
    finally:
        web.close()
    doc = json_or_none(resp) if resp.status_code == 200 else None
    missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint")
               if not isinstance(doc, dict) or not doc.get(k)]
    if missing:
        raise ConfigError(f"{where(address)} has no OpenID configuration at {address} (HTTP "
                          f"{resp.status_code}{', no ' + ', '.join(missing) if doc else ''}); "
                          "check the address of the identity provider.")
    return Provider(doc["issuer"], doc["authorization_endpoint"], doc["token_endpoint"],
                    doc.get("revocation_endpoint", ""), doc.get("userinfo_endpoint", ""))


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None = None
    id_token: str | None = None
    expires_at: float | None = None  # seconds since the epoch
    issued_at: float | None = None

    @classmethod
    def from_answer(cls, answer: dict, now: float) -> "Tokens":
        if not answer.get("access_token"):
            raise AuthError("The login was answered without an access token.")
        expires_at = answer.get("expires_at")
        if expires_at is None and answer.get("expires_in") is not None:
            expires_at = now + float(answer["expires_in"])
        return cls(answer["access_token"], answer.get("refresh_token"), answer.get("id_token"),
                   float(expires_at) if expires_at is not None else None, now)

    def lifetime(self) -> float | None:
        if self.expires_at is None or self.issued_at is None:
            return None
        return max(0.0, self.expires_at - self.issued_at)


class OAuthClient:
    """A public OAuth 2.0 client of one token endpoint (thread-safe: one session per call)."""

    def __init__(self, client_id: str, token_endpoint: str, *, verify: bool | str = True,
                 timeout: float = 60.0, what: str = "the identity provider",
                 scopes: tuple[str, ...] = (), clock: Callable[[], float] = time.time):
        self.client_id = client_id
        self.token_endpoint = token_endpoint
        self.verify = verify
        self.timeout = timeout
        self.what = what
        self.scopes = tuple(scopes)
        self.clock = clock

    def _session(self, scoped: bool = True, **kw) -> OAuth2Session:
        s = OAuth2Session(client_id=self.client_id, token_endpoint_auth_method="none",
                          scope=(" ".join(self.scopes) or None) if scoped else None, **kw)
        s.trust_env = True
        return s

    def _token(self, call, action: str, secrets_: tuple) -> Tokens:
        """Run one token request; the provider's refusal and network failures in plain words."""
        with network_errors(self.what, self.token_endpoint, secrets_):
            try:
                answer = call()
            except OAuthError as e:
                if e.error in ("invalid_grant", "access_denied", "invalid_client",
                               "unauthorized_client"):
                    raise AuthError(f"{self.what} at {where(self.token_endpoint)} did not "
                                    f"accept {action} ({e.error}).") from None
                if e.error == "temporarily_unavailable":
                    raise TransientError(f"{self.what} at {where(self.token_endpoint)} could not "
                                         f"take {action} just now; it will be retried.") from None
                raise UserFacingError(f"{self.what} at {where(self.token_endpoint)} refused "
                                      f"{action} ({e.error}"
                                      + (f": {e.description}" if e.description else "")
                                      + ").") from None
            except Exception as e:  # noqa: BLE001 - requests' HTTPError for a 5xx or non-JSON
                import requests

                if isinstance(e, requests.exceptions.HTTPError) and e.response is not None:
                    status = e.response.status_code
                    if status >= 500:
                        raise TransientError(f"{self.what} at {where(self.token_endpoint)} failed "
                                             f"to take {action} (HTTP {status}); it will be "
                                             "retried.") from None
                    raise UserFacingError(f"{self.what} at {where(self.token_endpoint)} answered "
                                          f"{action} with HTTP {status}; check its address.") \
                        from None
                raise
        return Tokens.from_answer(dict(answer), self.clock())

    def password(self, username: str, password: str) -> Tokens:
        """The resource owner's password grant (the server issues its own tokens)."""
        with self._session() as s:
            return self._token(lambda: s.fetch_token(
                self.token_endpoint, grant_type="password", username=username, password=password,
                timeout=(10.0, self.timeout), verify=self.verify),
                "the user name or password", (password,))

    def refresh(self, refresh_token: str) -> Tokens:
        """New tokens for a refresh token (which is spent: keep the one answered); no scope is
        asked, so the grant's own apply (RFC 6749 §6)."""
        with self._session(scoped=False) as s:
            return self._token(lambda: s.refresh_token(
                self.token_endpoint, refresh_token=refresh_token,
                timeout=(10.0, self.timeout), verify=self.verify),
                "the kept login (refresh token)", (refresh_token,))

    def authorize(self, authorization_endpoint: str, *,
                  open_browser: Callable[[str], bool] = webbrowser.open,
                  wait: float = BROWSER_WAIT, extra: dict | None = None,
                  redirect_host: str = "127.0.0.1") -> Tokens:
        """Single sign-on: the authorization-code flow with PKCE in the system browser, the
        code coming back to a loopback listener. ``extra``: more authorization parameters
        (an ``audience``, a ``prompt``)."""
        verifier = secrets.token_urlsafe(64)
        state = secrets.token_urlsafe(24)
        with LoopbackRedirect(redirect_host) as loop, \
                self._session(redirect_uri=loop.redirect_uri,
                              code_challenge_method="S256") as s:
            url, _ = s.create_authorization_url(authorization_endpoint, state=state,
                                                code_verifier=verifier, **(extra or {}))
            log.info("single sign-on: waiting for the browser at %s", where(url))
            if not open_browser(url):
                raise AuthError("No web browser could be opened for the single sign-on; set the "
                                "BROWSER environment variable to one, or log in another way.")
            query = loop.wait(wait)
            if query is None:
                raise AuthError(f"The single sign-on was not completed in the browser within "
                                f"{int(wait)} s; log in again.")
            if query.get("state") != state:
                raise AuthError("The single sign-on answered for another login attempt (its "
                                "state does not match); log in again.")
            if "error" in query:
                raise AuthError(f"{self.what} ended the single sign-on: {query['error']}"
                                + (f" ({query['error_description']})"
                                   if query.get("error_description") else "") + ".")
            if not query.get("code"):
                raise AuthError("The single sign-on came back without an authorization code; "
                                "log in again.")
            return self._token(lambda: s.fetch_token(
                self.token_endpoint, grant_type="authorization_code", code=query["code"],
                code_verifier=verifier, redirect_uri=loop.redirect_uri,
                timeout=(10.0, self.timeout), verify=self.verify),
                "the single sign-on", (query["code"],))

    def revoke(self, endpoint: str, token: str, hint: str = "refresh_token") -> bool:
        """Revoke a token (RFC 7009); False when the provider would not (never raises)."""
        if not endpoint:
            return False
        try:
            with self._session() as s, network_errors(self.what, endpoint, (token,)):
                resp = s.revoke_token(endpoint, token=token, token_type_hint=hint,
                                      timeout=(10.0, self.timeout), verify=self.verify)
            return resp.status_code == 200
        except Exception:  # noqa: BLE001 - logging out never blocks
            log.info("revoking the token at %s failed", where(endpoint), exc_info=True)
            return False


class LoopbackRedirect:
    """A one-shot HTTP listener on a free loopback port for the browser's redirect; ``wait``
    returns its query parameters (None when it did not come in time)."""

    PAGE = ("<!doctype html><meta charset=utf-8><title>DataUploader</title>"
            "<p>{0}</p><p>You can close this window and return to DataUploader.</p>")

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self._got = threading.Event()
        self._query: dict[str, str] | None = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                if not ({"code", "error"} & set(query)):
                    self.send_response(404)  # a favicon, a stray request
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ok = "code" in query
                body = outer.PAGE.format("You are signed in." if ok else
                                         "The sign-in did not succeed.").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if outer._query is None:
                    outer._query = query
                    outer._got.set()

        bind = "127.0.0.1" if host == "localhost" else host
        self._server = http.server.ThreadingHTTPServer((bind, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.redirect_uri = f"http://{host}:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={
            "poll_interval": 0.2}, name="sso-redirect", daemon=True)

    def __enter__(self) -> "LoopbackRedirect":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> dict[str, str] | None:
        return self._query if self._got.wait(timeout) else None
