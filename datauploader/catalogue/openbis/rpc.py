"""openBIS V3 JSON-RPC: the application server (AS) and the data store server (DSS), the
session, and the server's errors in one plain sentence.

* Every call is ``POST <url>`` with ``{"method", "params": [token, …], "id", "jsonrpc":
  "2.0"}``; the session token (or a personal access token) is the first parameter, never a
  header or a cookie.
* Errors arrive with **HTTP 200** and a JSON-RPC ``error`` whose ``data.exceptionTypeName``
  says what it is: an ended session (``InvalidSessionException``), refused rights
  (``AuthorizationFailureException``), something not there (``ObjectNotFoundException``), a
  refused value (``UserFailureException``). A ``login`` with wrong credentials answers
  ``result: null``. An unknown method is jsonrpc4j's -32601 (HTTP 404): a server too old.
* A password session that ends (openBIS ends idle sessions) is renewed by logging in again
  once, with the password kept in memory; a personal access token cannot be renewed here.
* Answers use Jackson's ``@id`` back-references: an object met a second time is only its
  number; ``resolve`` puts the objects back.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading

from datauploader.errors import (AuthError, CatalogueError, ConfigError, PermissionDeniedError,
                                 TransientError)
from datauploader.net.webclient import WebClient, json_or_none, redact, where

log = logging.getLogger(__name__)

AS_PATH = "/openbis/openbis/rmi-application-server-v3.json"
DSS_PATH = "/datastore_server/rmi-data-store-server-v3.json"
UPLOAD_PATH = "/datastore_server/session_workspace_file_upload"

#: keys under which an object may be a back-reference (its ``@id``) instead of itself
_REF_KEYS = {"type", "registrator", "modifier", "owner", "space", "project", "experiment",
             "sample", "propertyType", "entityType", "externalDms", "dataStore", "person",
             "creatorPerson", "vocabulary", "validationPlugin", "plugin", "leader"}
_REF_LISTS = {"propertyAssignments", "contentCopies", "parents", "children", "tags",
              "containers", "components", "objects"}


def resolve(answer):
    """The answer with Jackson's back-references replaced by the objects they name."""
    found: dict[int, dict] = {}

    def collect(node):
        if isinstance(node, dict):
            if isinstance(node.get("@id"), int) and "@type" in node:
                found[node["@id"]] = node
            for v in node.values():
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    def put_back(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, int) and not isinstance(v, bool) and k in _REF_KEYS:
                    node[k] = found.get(v, v)
                elif isinstance(v, list) and k in _REF_LISTS:
                    node[k] = [found.get(i, i) if isinstance(i, int) else i for i in v]
                    put_back(node[k])
                else:
                    put_back(v)
        elif isinstance(node, list):
            for v in node:
                put_back(v)
    collect(answer)
    put_back(answer)
    return answer


class OpenBISError(CatalogueError):
    """An error openBIS answered, with its Java exception type."""

    def __init__(self, message: str, java: str = ""):
        super().__init__(message)
        self.java = java


class OpenBISSession:
    """One login to one openBIS (AS and its DSS), shared by the catalogue's threads."""

    def __init__(self, url: str, web: WebClient, describe: str):
        self.url = url
        self.web = web
        self.describe = describe
        self.token: str | None = None
        self.user = ""
        self.is_token_login = False
        self._password: str | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # -- login ------------------------------------------------------------------------------
    def password_login(self, user: str, password: str) -> str:
        token = self._post(AS_PATH, "login", [user, password], "log in")
        if not token:
            raise AuthError(f"{self.describe} did not accept the user name or password for "
                            f"'{user}'.")
        with self._lock:
            self.token, self.user, self._password = token, user, password
            self.is_token_login = False
        return user

    def token_login(self, token: str) -> str:
        if not self._post(AS_PATH, "isSessionActive", [token], "check the token"):
            raise AuthError(f"{self.describe} did not accept the personal access token; it may "
                            "have expired. Create a new one in openBIS (User Profile → Personal "
                            "access tokens) and log in with it.")
        info = self._post(AS_PATH, "getSessionInformation", [token], "read the session") or {}
        with self._lock:
            self.token, self._password = token, None
            self.user = info.get("userName") or ""
            self.is_token_login = True
        return self.user

    def forget(self) -> str | None:
        with self._lock:
            token, self.token, self._password = self.token, None, None
        return token

    def logout(self) -> None:
        token = self.forget()
        if token and not self.is_token_login:  # a PAT is the user's, not ours to end
            try:
                self._post(AS_PATH, "logout", [token], "log out")
            except Exception:  # noqa: BLE001 - logging out never blocks
                log.info("openBIS logout failed", exc_info=True)

    # -- calls ------------------------------------------------------------------------------
    def call(self, method: str, *params, action: str, dss: bool = False):
        """``method(token, *params)`` on the AS (or the DSS); a password session that ended
        is renewed once."""
        token = self.token
        if token is None:
            raise AuthError(f"Not logged in to {self.describe}; log in first.")
        try:
            return self._post(DSS_PATH if dss else AS_PATH, method, [token, *params], action)
        except AuthError as e:
            if getattr(e, "session_ended", False) and self._renew(token):
                return self._post(DSS_PATH if dss else AS_PATH, method, [self.token, *params],
                                  action)
            raise

    def _renew(self, old: str) -> bool:
        with self._lock:
            if self.token != old:
                return True  # another thread renewed it already
            password = self._password
        if password is None:
            return False
        log.info("the openBIS session ended; logging in again")
        self.password_login(self.user, password)
        return True

    def _post(self, path: str, method: str, params: list, action: str):
        secrets = (self.token, self._password, *[p for p in params[:1] if isinstance(p, str)])
        body = {"method": method, "params": params, "id": str(next(self._ids)),
                "jsonrpc": "2.0"}
        resp = self.web.request("POST", path, secrets=secrets, data=json.dumps(body),
                                headers={"Content-Type": "application/json"})
        answer = json_or_none(resp)
        if resp.status_code == 404 and isinstance(answer, dict) and \
                (answer.get("error") or {}).get("code") == -32601:
            raise ConfigError(f"{self.describe} does not know the call '{method}' (needed to "
                              f"{action}); the server's openBIS is too old for DataUploader, "
                              "or 'url' is not its address.", key="url")
        if resp.status_code >= 500 and not isinstance(answer, dict):
            raise TransientError(f"{self.describe} answered {resp.status_code} to '{method}'; "
                                 "it will be retried.")
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            if resp.status_code == 404:
                raise ConfigError(f"There is no openBIS V3 API at {where(self.web.url(path))}; "
                                  "check 'url' (the openBIS server's address, without "
                                  "/openbis).", key="url")
            raise TransientError(f"{self.describe} sent an answer that is not JSON-RPC "
                                 f"(HTTP {resp.status_code}) to '{method}'; it will be retried.")
        if answer.get("error"):
            raise self._error(answer["error"], action, secrets)
        return resolve(answer.get("result"))

    def _error(self, error: dict, action: str, secrets: tuple) -> Exception:
        data = error.get("data") or {}
        java = data.get("exceptionTypeName") or ""
        message = redact(str(error.get("message") or data.get("message") or ""), *secrets)
        if java.endswith("InvalidSessionException") or "user is not logged in" in message:
            e = AuthError(f"Your openBIS session at {where(self.url)} has ended; log in again, "
                          "then resume the job.")
            e.session_ended = True
            return e
        if java.endswith("AuthorizationFailureException") or \
                message.startswith("Authorization failure"):
            return PermissionDeniedError(f"{self.describe} does not allow you to {action} "
                                         f"({message.removeprefix('Authorization failure: ')})")
        if error.get("code") not in (0, None) and not java:
            return CatalogueError(f"{self.describe} could not {action}: {message} (JSON-RPC "
                                  f"error {error.get('code')}).")
        return OpenBISError(f"{self.describe} could not {action}: {message}", java)
