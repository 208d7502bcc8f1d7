"""One login to an etiket (QHarbor) server, shared by the etiket catalogue and the etiket
storage (which never import each other): the tokens, their renewal, the calls, and etiket's
error bodies mapped to our error classes.

* **Logins.** A password is exchanged for an access token and a refresh token at the
  server's own OAuth 2.0 token endpoint (``POST /api/v3/token``, the password grant); single
  sign-on gets them from the facility's OpenID provider (``net.oidc``: code flow with PKCE in
  the browser), and the server takes that provider's access token with its ID token in
  ``X-ID-Token``; an API token is sent as it is. ``GET /api/v3/token/userinfo`` then says who
  we are (``sub``).
* **Renewal.** An access token is renewed with the refresh token shortly before it expires
  (a tenth of its life, at most 300 s), and once more when the server refuses it earlier.
  Refresh tokens are single-use: each renewal answers a new one, handed to ``keep`` (the
  catalogue puts it in the OS keyring, so that the next run logs in without the password).
  An API token is not renewed; the server says when it is refused.
* **Errors.** etiket answers ``{"error": "<name>", "detail": "…"}`` (FastAPI's plain
  ``{"detail": …}`` where it has no name); the name decides the error class. HTML from a
  proxy or firewall in front of the server is said to be that.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from datauploader.errors import (AuthError, CatalogueError, PermissionDeniedError, TransientError,
                                 UserFacingError)
from datauploader.net.oidc import OAuthClient, Provider, Tokens
from datauploader.net.webclient import WebClient, json_or_none, where

log = logging.getLogger(__name__)

#: renew when this share of the access token's life is left (at most RENEW_AHEAD seconds)
RENEW_SHARE = 0.1
RENEW_AHEAD = 300.0
#: etiket's error names, by what they mean for us
LOGIN_ENDED = {"token_invalid", "token_revoked", "invalid_grant", "invalid_token"}
REFUSED = {"permissions_insufficient", "scope_access_denied", "api_token_access_denied",
           "user_is_disabled", "access_denied"}
#: statuses a proxy, VPN or web firewall answers with a page of its own
BLOCKED = {401, 403, 407, 451, 502, 503, 504, 511}


class EtiketError(CatalogueError):
    """etiket refused a call; ``status`` and ``name`` say how (callers test them)."""

    status: int = 0
    name: str = ""


class NoSuchRoute(EtiketError):
    """The server has no such route (FastAPI's 404 ``{"detail": "Not Found"}``)."""


class EtiketSession:
    """Thread-safe; the catalogue holds one and the storage uses it (``SharesSession``)."""

    def __init__(self, url: str, web: WebClient, clock: Callable[[], float] = time.time,
                 timeout: float = 120.0):
        self.url = url.rstrip("/")
        self.web = web
        self.clock = clock
        self.timeout = timeout
        self.verify = web.session.verify
        self.method: str | None = None  # password | sso | token
        self.user = ""
        self.keep: Callable[[str | None], None] = lambda refresh_token: None
        self._tokens: Tokens | None = None
        self._api_token: str | None = None
        self._renewer: OAuthClient | None = None  # the token endpoint that renews ours
        self._lock = threading.RLock()  # tokens; never held across a call
        self._login_lock = threading.Lock()  # one login or renewal at a time

    def describe(self) -> str:
        return f"etiket at {where(self.url)}"

    def token_client(self) -> OAuthClient:
        """The server's own token endpoint (password grant and its refresh), client id ''."""
        return OAuthClient("", self.url + "/api/v3/token", verify=self.verify,
                           timeout=self.timeout, what=self.describe(), clock=self.clock)

    # -- logging in -------------------------------------------------------------------------
    def login_password(self, username: str, password: str) -> str:
        try:
            tokens = self.token_client().password(username, password)
        except AuthError:
            raise AuthError(f"{self.describe()} did not accept the user name or password. Check "
                            "them and try again.") from None
        return self._logged_in("password", tokens, self.token_client())

    def login_sso(self, provider: Provider, client_id: str, scopes: tuple[str, ...],
                  open_browser, extra: dict | None = None, redirect_host: str = "127.0.0.1") -> str:
        client = OAuthClient(client_id, provider.token_endpoint, verify=self.verify,
                             timeout=self.timeout, what="the identity provider",
                             scopes=scopes, clock=self.clock)
        tokens = client.authorize(provider.authorization_endpoint, open_browser=open_browser,
                                  extra=extra, redirect_host=redirect_host)
        return self._logged_in("sso", tokens, client)

    def login_refresh(self, method: str, refresh_token: str, renewer: OAuthClient) -> str:
        """Log in again with a kept refresh token (no password, no browser)."""
        return self._logged_in(method, renewer.refresh(refresh_token), renewer)

    def login_token(self, token: str) -> str:
        with self._lock:
            self._tokens, self._renewer, self._api_token = None, None, token
            self.method = "token"
        try:
            self.user = self.whoami()
        except AuthError:
            self.forget()
            raise AuthError(f"{self.describe()} did not accept the API token; it may have been "
                            "revoked. Make a new one in etiket and try again.") from None
        return self.user

    def _logged_in(self, method: str, tokens: Tokens, renewer: OAuthClient) -> str:
        with self._lock:
            self._tokens, self._renewer, self._api_token = tokens, renewer, None
            self.method = method
        self._keep(tokens)
        self.user = self.whoami()
        return self.user

    def _keep(self, tokens: Tokens) -> None:
        if tokens.refresh_token:
            try:
                self.keep(tokens.refresh_token)
            except Exception as e:  # noqa: BLE001 - a locked keyring must not stop the job
                log.warning("the refresh token could not be kept: %s", e)

    def whoami(self) -> str:
        answer = self.json("GET", "/token/userinfo", "say who you are", version="v3")
        sub = (answer or {}).get("sub") if isinstance(answer, dict) else None
        if not sub:
            raise AuthError(f"{self.describe()} did not say who you are after the login.")
        return str(answer.get("preferred_username") or answer.get("name") or sub)

    def logged_in(self) -> bool:
        with self._lock:
            return self._tokens is not None or self._api_token is not None

    def forget(self) -> Tokens | None:
        with self._lock:
            tokens, self._tokens, self._api_token, self._renewer = self._tokens, None, None, None
            self.method = None
            return tokens

    def logout(self) -> None:
        """End a password or single-sign-on login (its refresh token revoked); an API token
        is not ours to end."""
        renewer = self._renewer
        tokens = self.forget()
        if tokens and tokens.refresh_token and renewer is not None:
            endpoint = (self.url + "/api/v3/token/revoke"
                        if renewer.token_endpoint.startswith(self.url) else "")
            renewer.revoke(endpoint, tokens.refresh_token)

    # -- renewal ----------------------------------------------------------------------------
    def _due(self, tokens: Tokens) -> bool:
        if tokens.expires_at is None:
            return False
        life = tokens.lifetime() or 0.0
        ahead = min(RENEW_AHEAD, max(1.0, life * RENEW_SHARE))
        return self.clock() >= tokens.expires_at - ahead

    def renew(self, stale: Tokens | None) -> None:
        """Renew with the refresh token, unless another thread already did."""
        with self._login_lock:
            with self._lock:
                tokens, renewer = self._tokens, self._renewer
            if tokens is not stale or tokens is None:
                return
            if renewer is None or not tokens.refresh_token:
                raise self.expired()
            try:
                fresh = renewer.refresh(tokens.refresh_token)
            except AuthError:
                raise self.expired() from None
            with self._lock:
                self._tokens = fresh
            self._keep(fresh)
            log.info("etiket access token renewed")

    def expired(self) -> AuthError:
        return AuthError(f"Your login to {self.describe()} has expired; log in again, then "
                         "resume the job.")

    def login_ends(self) -> float | None:
        """An access token that cannot be renewed ends the login; else None."""
        with self._lock:
            t = self._tokens
            return t.expires_at if t is not None and not t.refresh_token else None

    # -- calls ------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        with self._lock:
            if self._api_token:
                return {"Authorization": f"Bearer {self._api_token}"}
            t = self._tokens
        if t is None:
            raise AuthError(f"You are not logged in to {self.describe()}; log in first.")
        headers = {"Authorization": f"Bearer {t.access_token}"}
        if t.id_token:
            headers["X-ID-Token"] = t.id_token
        return headers

    def secrets(self) -> tuple:
        with self._lock:
            t = self._tokens
            return (self._api_token,) + ((t.access_token, t.id_token, t.refresh_token) if t else ())

    def call(self, method: str, path: str, action: str, *, version: str = "v2",
             renew: bool = True, **kw):
        """``path`` under ``/api/<version>``; answers of 300 and above raise."""
        url = f"/api/{version}{path}"
        extra = kw.pop("headers", {})
        for attempt in (1, 2):
            with self._lock:
                tokens = self._tokens
            if renew and tokens is not None and self._due(tokens):
                self.renew(tokens)
            headers = {**extra, **self._headers()}
            resp = self.web.request(method, url, headers=headers, secrets=self.secrets(), **kw)
            if resp.status_code < 300:
                return resp
            exc = self.error(resp, action)
            with self._lock:
                renewable = self._tokens is not None and self._tokens.refresh_token is not None
            if attempt == 1 and renew and renewable and exc.status == 401:
                self.renew(tokens)  # the server stopped taking the token before its end
                continue
            if exc.status == 401 and not isinstance(exc, PermissionDeniedError):
                raise self.expired() if self.method != "token" else AuthError(
                    f"{self.describe()} no longer accepts the API token; make a new one, then "
                    "resume the job.") from None
            raise exc
        raise AssertionError("unreachable")

    def json(self, *a, **kw):
        return json_or_none(self.call(*a, **kw))

    def error(self, resp, action: str) -> Exception:
        status = resp.status_code
        body = json_or_none(resp)
        if body is None and status in BLOCKED and "html" in resp.headers.get("Content-Type", ""):
            exc: Exception = (TransientError if status >= 502 else UserFacingError)(
                f"A proxy, VPN or firewall between this computer and {self.describe()} answered "
                f"instead of the server (HTTP {status}) while trying to {action}; ask your IT "
                "department, or try from the facility's network.")
            exc.status = status  # type: ignore[attr-defined]
            return exc
        name = str(body.get("error") or "") if isinstance(body, dict) else ""
        detail = body.get("detail") if isinstance(body, dict) else None
        if isinstance(detail, list):  # FastAPI's validation errors
            detail = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', ()))}: {d.get('msg')}"
                               if isinstance(d, dict) else str(d) for d in detail)
        detail = str(detail or "").strip().rstrip(".")
        said = f" ({detail})" if detail else ""
        if name in REFUSED or (status == 403 and name not in LOGIN_ENDED):
            exc = PermissionDeniedError(f"{self.describe()} does not allow you to {action}{said}.")
        elif name in LOGIN_ENDED or status == 401:
            exc = AuthError(f"{self.describe()} no longer accepts your login{said}.")
            status = 401
        elif status >= 500:
            exc = TransientError(f"{self.describe()} failed to {action} (HTTP {status}"
                                 + (f": {detail}" if detail else "") + "); it will be retried.")
        elif status == 404 and not name and detail == "Not Found":
            exc = NoSuchRoute(f"{self.describe()} has no route to {action} (HTTP 404); check "
                              "the catalogue's 'url', or the server is of another release.")
        elif status == 404 and body is None:
            exc = UserFacingError(f"There is no etiket API at {self.url}/api (HTTP 404); check "
                                  "the 'url' of the catalogue.")
        else:
            exc = EtiketError(f"{self.describe()} refused to {action}"
                              + (f": {detail}" if detail else f" (HTTP {status})") + ".")
        exc.status = status  # type: ignore[attr-defined]
        exc.name = name  # type: ignore[attr-defined]
        return exc
