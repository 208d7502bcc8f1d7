"""One login to a SciCat backend: the token, logging in again before it expires, the calls with
SciCat's error bodies mapped to our error classes, and which v4 routes this server has.

* **Token.** Only ever in the ``Authorization: Bearer`` header. Its end is read from the JWT's
  ``exp`` (or ``expires_in``). With a password login (the secret is at hand: typed in the
  window, from the environment or the OS keyring) we log in again shortly before that end,
  and once more if the server stops taking the token earlier; a token login cannot be
  renewed here, so its end stops the job (resumable) and is announced before a job.
* **Routes per release.** ``/api/v4/datasets`` arrived in backend 4.12, ``/api/v4/attachments``
  in 4.15, ``POST /api/v4/origdatablocks`` only in 4.20. Each route is tried on v4 once per
  session; an Express 404 ("Cannot POST /api/v4/…") is remembered and that resource then uses
  its v3 route (the v3 routes are in every release).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from typing import Callable

from datauploader.errors import (AuthError, CatalogueError, PermissionDeniedError, TransientError,
                                 UserFacingError)
from datauploader.net.webclient import WebClient, json_or_none, where

log = logging.getLogger(__name__)

#: the resources with v4 routes, and the backend release that brought each
V4_SINCE = {"datasets": "4.12", "attachments": "4.15", "origdatablocks": "4.20"}
#: log in again when this share of the token's life is left (at most RENEW_AHEAD seconds)
RENEW_SHARE = 0.1
RENEW_AHEAD = 300.0


def jwt_claims(token: str) -> dict:
    """The claims of a JWT, read without verifying it ({} if it is not one)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
        return claims if isinstance(claims, dict) else {}
    except (IndexError, ValueError, TypeError, AttributeError):
        return {}


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (seconds since the epoch), read without verifying it."""
    exp = jwt_claims(token).get("exp")
    try:
        return float(exp) if exp is not None else None
    except (TypeError, ValueError):
        return None


class NoSuchRoute(CatalogueError):
    """The server has no route for that method and path (an Express 404)."""


class SciCatSession:
    """Thread-safe; the catalogue holds one."""

    def __init__(self, url: str, web: WebClient, clock: Callable[[], float] = time.time,
                 v4: bool = True):
        self.url = url
        self.web = web
        self.clock = clock
        self._lock = threading.RLock()  # token and route memory; never held across a call
        self._login_lock = threading.Lock()  # one login at a time
        self.token: str | None = None
        self.expires: float | None = None
        self._issued: float | None = None
        self._relogin: tuple[str, dict] | None = None  # (method, body) of a password login
        self.v4: dict[str, bool] = {r: v4 for r in V4_SINCE}

    def describe(self) -> str:
        return f"SciCat at {where(self.url)}"

    # -- token ------------------------------------------------------------------------------
    def set_token(self, token: str, expires_in=None) -> None:
        with self._lock:
            self.token = token
            claims = jwt_claims(token)
            exp = jwt_expiry(token)
            if exp is None and expires_in:
                exp = self.clock() + float(expires_in)
            self.expires = exp
            iat = claims.get("iat")
            self._issued = float(iat) if isinstance(iat, (int, float)) else self.clock()
            self.web.session.headers["Authorization"] = f"Bearer {token}"

    def forget(self) -> str | None:
        with self._lock:
            token, self.token, self.expires, self._relogin = self.token, None, None, None
            self.web.session.headers.pop("Authorization", None)
            return token

    def renewable(self) -> bool:
        return self._relogin is not None

    def login_ends(self) -> float | None:
        """When the login ends for good: the token's end if it cannot be renewed, else None."""
        with self._lock:
            return None if self._relogin is not None or self.token is None else self.expires

    def password_login(self, method: str, body: dict, keep: bool = True) -> dict:
        """Log in with a user name and password; ``keep`` them (in memory only) so that the
        token can be renewed before it expires."""
        if method == "local":
            paths = ["/api/v3/auth/login"]
        else:  # the LDAP route, then its legacy name (scitacean falls back the same way)
            paths = ["/api/v3/auth/ldap", "/api/v3/auth/msad"]
        for path in paths:
            resp = self.web.request("POST", path, json=body, secrets=(body["password"],))
            if resp.status_code == 404:
                continue
            if resp.status_code in (401, 403):
                raise AuthError(f"{self.describe()} did not accept the user name or password "
                                f"({method} account). Check them and try again.")
            if resp.status_code >= 500:
                raise TransientError(f"{self.describe()} failed to log you in (HTTP "
                                     f"{resp.status_code}); try again in a moment.")
            if resp.status_code >= 300:
                raise self.error(resp, "log you in")
            answer = json_or_none(resp) or {}
            token = answer.get("access_token") or answer.get("id")
            if not token:
                raise CatalogueError(f"{self.describe()} answered the login without a token.")
            self.set_token(token, answer.get("expires_in"))
            with self._lock:
                self._relogin = (method, dict(body)) if keep else None
            return answer
        raise UserFacingError(f"{self.describe()} has no {method} login (HTTP 404); check the "
                              "'url' and 'auth' of the catalogue.")

    def _renew(self, stale: str | None) -> None:
        """Log in again with the kept password, unless another thread already did."""
        with self._login_lock:
            with self._lock:
                if self.token != stale or self._relogin is None:
                    return
                method, body = self._relogin
            self.password_login(method, body)
            log.info("SciCat token renewed by logging in again")

    def _due(self) -> bool:
        with self._lock:
            if self.expires is None:
                return False
            life = self.expires - (self._issued or self.expires)
            ahead = min(RENEW_AHEAD, max(1.0, life * RENEW_SHARE))
            return self.clock() >= self.expires - ahead

    def expired_error(self) -> AuthError:
        return AuthError(f"Your login to {self.describe()} has expired; log in again, then "
                         "resume the job.")

    def whoami(self) -> dict:
        resp = self.web.request("GET", "/api/v3/auth/whoami", secrets=(self.token,))
        body = json_or_none(resp) if resp.status_code == 200 else None
        return body if isinstance(body, dict) and body.get("username") else {}

    # -- calls ------------------------------------------------------------------------------
    def call(self, method: str, path: str, action: str, **kw):
        for attempt in (1, 2):
            with self._lock:
                token = self.token
                if not token:
                    raise AuthError(f"You are not logged in to {self.describe()}; log in first.")
            if self._due():
                if self.renewable():
                    self._renew(token)
                elif self.clock() >= (self.expires or 0):
                    raise self.expired_error()
            resp = self.web.request(method, path, secrets=(self.token,), **kw)
            if resp.status_code < 300:
                return resp
            exc = self.error(resp, action)
            if attempt == 1 and self.renewable() and self._refused_login(exc):
                self._renew(token)  # the server stopped taking the token before its exp
                continue
            raise exc
        raise AssertionError("unreachable")

    @staticmethod
    def _refused_login(exc: Exception) -> bool:
        return isinstance(exc, AuthError) and not isinstance(exc, PermissionDeniedError)

    def json(self, *a, **kw):
        return json_or_none(self.call(*a, **kw))

    def error(self, resp, action: str) -> Exception:
        body = json_or_none(resp)
        msg = body.get("message") if isinstance(body, dict) else body
        if isinstance(msg, list):
            msg = "; ".join(str(m) for m in msg)
        msg = str(msg or "").strip().rstrip(".")
        status = resp.status_code
        if status == 401:
            exc: Exception = self.expired_error()
        elif status == 403:
            # an expired or revoked token is treated as no token: ask who we are
            exc = PermissionDeniedError(f"{self.describe()} does not allow you to {action}"
                                        + (f" ({msg})" if msg else "") + ".")
            if self.token and not self.whoami():
                exc = self.expired_error()
        elif status >= 500:
            exc = TransientError(f"{self.describe()} failed to {action} (HTTP {status}); it will "
                                 "be retried.")
        elif status == 404 and body is None:
            exc = UserFacingError(f"There is no SciCat API at {self.url}/api (HTTP 404); check "
                                  "the 'url' of the catalogue.")
        elif status == 404 and msg.startswith("Cannot "):
            exc = NoSuchRoute(f"{self.describe()} has no route to {action} ({msg}); check the "
                              "'url' and 'api_version' of the catalogue.")
        else:
            exc = CatalogueError(f"{self.describe()} refused to {action}"
                                 + (f": {msg}" if msg else f" (HTTP {status})") + ".")
        exc.status = status  # type: ignore[attr-defined]
        return exc

    # -- routes per release -------------------------------------------------------------------
    def uses_v4(self, resource: str) -> bool:
        with self._lock:
            return self.v4[resource]

    def per_route(self, resource: str, on_v4: Callable, on_v3: Callable):
        """``on_v4()`` while this server is believed to have the v4 route of ``resource``;
        on an Express 404 remember that it has none and use ``on_v3()`` from then on."""
        if self.uses_v4(resource):
            try:
                return on_v4()
            except NoSuchRoute:
                with self._lock:
                    self.v4[resource] = False
                log.info("%s has no v4 %s routes (a backend before %s); using v3",
                         self.describe(), resource, V4_SINCE[resource])
        return on_v3()

    def offers(self) -> dict[str, bool]:
        """Which v4 write routes the server has, asked without logging in: an anonymous POST
        of an empty body is refused (403, or 400/401) where the route exists and answered 404
        "Cannot POST …" where it does not; nothing is ever created."""
        found = {}
        paths = {"datasets": "/api/v4/datasets", "attachments": "/api/v4/attachments",
                 "origdatablocks": "/api/v4/origdatablocks"}
        for resource, path in paths.items():
            resp = self.web.request("POST", path, json={}, headers={"Authorization": None})
            body = json_or_none(resp)
            msg = str(body.get("message", "")) if isinstance(body, dict) else ""
            if resp.status_code == 404 and body is None:
                raise UserFacingError(f"There is no SciCat API at {self.url}/api (HTTP 404); "
                                      "check the 'url' of the catalogue.")
            found[resource] = not (resp.status_code == 404 and msg.startswith("Cannot "))
        return found
