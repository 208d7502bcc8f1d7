"""An ICAT session over ICAT's REST interface (icat.server ``ICATRest``): properties, session
life cycle, search and write, with ICAT's error bodies mapped to our error classes, and the
look-ups both its users need. Shared by the ICAT catalogue (which logs in and registers) and the
IDS storage (which puts bytes in the same session), so neither imports the other.

The session id travels the way ICAT wants it (form field on POST, query parameter on GET and
DELETE, path segment for /session/{id}); it is redacted from every message we raise. The
session is kept alive while we hold it: before a call when more than half its lifetime has
passed since the last refresh, and by a background thread during long transfers, when no
call may happen for a while (IDS checks the session again when a big put ends).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from datauploader.checksums import normalize
from datauploader.errors import (AuthError, CatalogueError, ConfigError, PermissionDeniedError,
                                 TransientError, UserFacingError)
from datauploader.net.webclient import WebClient, json_or_none, redact, where

log = logging.getLogger(__name__)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
#: refresh once this fraction of the session lifetime has passed since the last refresh
REFRESH_AFTER = 0.5


@dataclass(frozen=True)
class Authenticator:
    mnemonic: str
    keys: tuple[tuple[str, bool], ...]  # (name, hidden)
    friendly: str = ""
    admin: bool = False


def quote(value: str) -> str:
    """A JPQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def encode_checksum(value: str, algorithm: str) -> str:
    """ICAT has no algorithm field: crc32 as bare hex (the form IDS itself writes), any other
    algorithm as ``<algorithm>:<hex>``, so the value is never ambiguous."""
    if algorithm == "crc32":
        return normalize(value, "crc32")
    return f"{algorithm}:{value}"


def decode_checksum(text: str | None) -> tuple[str | None, str | None]:
    """(value, algorithm) of a Datafile.checksum; a bare short hex string is IDS's CRC32."""
    if not text:
        return None, None
    alg, sep, value = text.partition(":")
    if sep:
        return value, alg
    if len(text) <= 8 and all(c in "0123456789abcdefABCDEF" for c in text):
        return normalize(text, "crc32"), "crc32"
    return text, None


class ICATSession:
    """One login to one ICAT server; thread-safe."""

    def __init__(self, url: str, *, verify: bool | str = True, timeout: float = 120.0,
                 facility: str = "", datafile_format: str = "other",
                 clock: Callable[[], float] = time.monotonic):
        self.base = url.rstrip("/")
        self.verify = verify
        self.web = WebClient(self.base, verify=verify, timeout=(10.0, timeout), what="ICAT")
        self.facility = facility
        self.datafile_format = datafile_format
        self._ids: dict[tuple, int] = {}  # (entity, name, condition) → id of reference data
        self.clock = clock
        self._lock = threading.RLock()
        self.session_id: str | None = None
        self.user: str | None = None
        self._lifetime = 0.0  # seconds
        self._refreshed = 0.0
        self._keepalive: threading.Thread | None = None
        self._stop = threading.Event()
        self._properties: dict | None = None

    @property
    def where(self) -> str:
        return where(self.base)

    def describe(self) -> str:
        return f"ICAT at {self.where}"

    # -- errors -----------------------------------------------------------------------------
    def error(self, resp, action: str) -> Exception:
        """The exception for a non-2xx answer of ICAT to ``action`` (a verb phrase). ICAT answers
        a URL it does not know with 501 NOT_IMPLEMENTED: a wrong 'url' or an older server, a
        configuration error that no retry mends."""
        body = json_or_none(resp)
        code = body.get("code") if isinstance(body, dict) else None
        message = redact(str(body.get("message", "")) if isinstance(body, dict) else "",
                         self.session_id).strip().rstrip(".")
        status = resp.status_code
        if code == "SESSION":
            exc: Exception = AuthError(
                f"ICAT at {self.where} no longer accepts your session ({message}) while trying to "
                f"{action}; log in again, then resume the job.")
        elif code == "INSUFFICIENT_PRIVILEGES":
            exc = PermissionDeniedError(
                f"ICAT at {self.where} does not allow you to {action} ({message}). Ask the "
                "facility for the rights, or check the investigation.")
        elif code == "NOT_IMPLEMENTED":
            path = resp.request.path_url.split("?")[0] if resp.request is not None else "it"
            exc = ConfigError(
                f"ICAT at {self.where} does not implement {path} (NOT_IMPLEMENTED) while trying "
                f"to {action}: check the 'url' of the catalogue (the server's address, without "
                "/icat); the server may also be an ICAT older than DataUploader needs.")
        elif code in ("BAD_PARAMETER", "VALIDATION", "OBJECT_ALREADY_EXISTS",
                      "NO_SUCH_OBJECT_FOUND"):
            exc = CatalogueError(f"ICAT at {self.where} refused to {action}: {message}.")
        elif status >= 500:
            exc = TransientError(f"ICAT at {self.where} failed to {action} (HTTP {status}"
                                 + (f": {message}" if message else "") + "); it will be retried.")
        elif code is None and status == 404:
            exc = UserFacingError(f"There is no ICAT REST service at {self.base}/icat (HTTP 404); "
                                  "check the 'url' of the catalogue.")
        else:
            exc = CatalogueError(f"ICAT at {self.where} refused to {action} (HTTP {status}"
                                 + (f": {message}" if message else "") + ").")
        exc.icat_code = code  # type: ignore[attr-defined]
        return exc

    def _call(self, method: str, path: str, action: str, **kw):
        resp = self.web.request(method, "/icat" + path, secrets=(self.session_id,), **kw)
        if resp.status_code >= 300:
            raise self.error(resp, action)
        return resp

    # -- unauthenticated --------------------------------------------------------------------
    def properties(self) -> dict:
        with self._lock:
            if self._properties is None:
                body = json_or_none(self._call("GET", "/properties", "describe itself"))
                if not isinstance(body, dict) or "authenticators" not in body:
                    raise UserFacingError(f"{self.base}/icat/properties did not answer like ICAT; "
                                          "check the 'url' of the catalogue.")
                self._properties = body
            return self._properties

    def authenticators(self) -> list[Authenticator]:
        out = []
        for a in self.properties().get("authenticators", []):
            keys = tuple((k["name"], bool(k.get("hide", False))) for k in a.get("keys", []))
            out.append(Authenticator(a["mnemonic"], keys, a.get("friendly", ""),
                                     bool(a.get("admin", False))))
        return out

    @property
    def max_entities(self) -> int:
        return int(self.properties().get("maxEntities") or 1000)

    # -- session ----------------------------------------------------------------------------
    def login(self, plugin: str, credentials: list[dict[str, str]]) -> str:
        form = {"json": json.dumps({"plugin": plugin, "credentials": credentials})}
        resp = self.web.request("POST", "/icat/session", data=form, headers=FORM)
        if resp.status_code >= 300:
            err = self.error(resp, "log you in")
            if getattr(err, "icat_code", None) == "SESSION":
                body = json_or_none(resp) or {}
                raise AuthError(f"ICAT at {self.where} did not accept the credentials for "
                                f"'{plugin}' ({body.get('message', 'refused')}). Check the user name "
                                "and password.") from None
            raise err
        sid = (json_or_none(resp) or {}).get("sessionId")
        if not sid:
            raise CatalogueError(f"ICAT at {self.where} answered the login without a session id.")
        with self._lock:
            self.session_id = sid
            info = self.session_info()
            self.user = info["userName"]
            self._lifetime = float(info.get("remainingMinutes", 0)) * 60.0
            self._refreshed = self.clock()
            self._start_keepalive()
        return self.user

    def session_info(self) -> dict:
        return json_or_none(self._call("GET", f"/session/{self.session_id}",
                                       "read your session")) or {}

    def require_session(self) -> str:
        """The session id, refreshed if more than half its lifetime has passed."""
        with self._lock:
            if not self.session_id:
                raise AuthError(f"You are not logged in to ICAT at {self.where}; log in first.")
            if self._lifetime and self.clock() - self._refreshed > self._lifetime * REFRESH_AFTER:
                self._call("PUT", f"/session/{self.session_id}", "refresh your session")
                self._refreshed = self.clock()
                log.info("ICAT session refreshed")
            return self.session_id

    def check_session(self) -> None:
        """Raise AuthError if ICAT no longer knows our session."""
        with self._lock:
            if not self.session_id:
                raise AuthError(f"You are not logged in to ICAT at {self.where}; log in first.")
            self.session_info()

    def logout(self) -> None:
        with self._lock:
            sid, self.session_id = self.session_id, None
            self._stop.set()
        if sid:
            try:
                self.web.request("DELETE", f"/icat/session/{sid}", secrets=(sid,))
            except Exception:  # noqa: BLE001 - logging out never blocks
                log.info("ICAT logout failed", exc_info=True)

    def _start_keepalive(self) -> None:
        if self._keepalive is not None and self._keepalive.is_alive() and not self._stop.is_set():
            return
        self._stop = threading.Event()
        stop = self._stop

        def loop():
            while not stop.wait(max(5.0, min(self._lifetime / 4 or 300.0, 300.0))):
                try:
                    self.require_session()
                except Exception as e:  # noqa: BLE001 - the next real call reports it
                    log.info("ICAT keep-alive: %s", e)

        self._keepalive = threading.Thread(target=loop, name="icat-keepalive", daemon=True)
        self._keepalive.start()

    # -- entities ---------------------------------------------------------------------------
    def search(self, query: str, action: str) -> list:
        sid = self.require_session()
        resp = self._call("GET", "/entityManager", action,
                          params={"sessionId": sid, "query": query})
        return json_or_none(resp) or []

    def search_all(self, query: str, action: str, page: int | None = None) -> list:
        """Every result of ``query`` (no LIMIT clause of its own), page by page."""
        page = page or max(1, min(1000, self.max_entities))
        out: list = []
        while True:
            got = self.search(f"{query} LIMIT {len(out)}, {page}", action)
            out.extend(got)
            if len(got) < page:
                return out

    def write(self, entities: list[dict], action: str) -> list[int]:
        sid = self.require_session()
        resp = self._call("POST", "/entityManager", action,
                          data={"sessionId": sid, "entities": json.dumps(entities)}, headers=FORM)
        return json_or_none(resp) or []

    # -- look-ups shared by the catalogue and IDS ---------------------------------------------
    def facility_cond(self, alias: str) -> str:
        return f" AND {alias}.facility.name = {quote(self.facility)}" if self.facility else ""

    def reference_id(self, entity: str, name: str, extra: str = "", what: str = "") -> int:
        """The id of reference data (a Facility, DatafileFormat, DatasetType …) by name, cached;
        a name ICAT does not have is an error that lists the ones it has."""
        key = (entity, name, extra)
        with self._lock:
            if key in self._ids:
                return self._ids[key]
        scope = "" if entity == "Facility" else self.facility_cond("t")
        rows = unwrap(self.search(
            f"SELECT t FROM {entity} t WHERE t.name = {quote(name)}{extra}{scope} ORDER BY t.id",
            f"look up {what or entity}"), entity)
        if not rows:
            known = sorted({r["name"] for r in unwrap(self.search(
                f"SELECT t FROM {entity} t WHERE t.id > 0{scope} ORDER BY t.name LIMIT 0, 50",
                f"list {what or entity}s"), entity)})
            raise CatalogueError(f"{self.describe()} has no {what or entity} named '{name}'"
                                 + (f"; it has: {', '.join(known)}." if known else "."))
        with self._lock:
            self._ids[key] = rows[0]["id"]
        return rows[0]["id"]

    def datafile_format_id(self, spec: str | None = None) -> int:
        """``name`` or ``name:version`` (default: the configured format)."""
        name, _, version = (spec or self.datafile_format).partition(":")
        extra = f" AND t.version = {quote(version)}" if version else ""
        return self.reference_id("DatafileFormat", name, extra, "datafile format")

    def datafiles(self, dataset_id: str) -> list[dict]:
        """Every Datafile of the dataset (id, name, fileSize, checksum, location, …)."""
        return unwrap(self.search_all(
            f"SELECT df FROM Datafile df WHERE df.dataset.id = {int(dataset_id)} ORDER BY df.id",
            "list the dataset's files"), "Datafile")

    def find_datafile(self, dataset_id: str, name: str) -> dict | None:
        rows = unwrap(self.search(
            f"SELECT df FROM Datafile df WHERE df.dataset.id = {int(dataset_id)} AND "
            f"df.name = {quote(name)}", f"look up file '{name}'"), "Datafile")
        return rows[0] if rows else None

    def close(self) -> None:
        self._stop.set()
        self.web.close()


def unwrap(rows: list, name: str) -> list[dict]:
    """[{"Dataset": {...}}, ...] → [{...}, ...]."""
    return [r[name] for r in rows if isinstance(r, dict) and name in r]
