"""An ICAT + IDS emulator, run as its own process: ``python -m tests.servers.icat_emulator
--port N --data-dir D``. Written from the icat.server and ids.server sources (the protocol
as DataUploader speaks it: docs/catalogue-protocols.md); strict where the real servers are:

* ICAT REST under ``/icat``: ``GET properties``, ``GET version``, ``POST session`` (form field
  ``json``), ``GET|PUT|DELETE session/{id}``, ``GET|POST|DELETE entityManager`` (form-encoded
  writes, session id as a form field on POST and a query parameter otherwise). Errors are
  ``{"code","message"[,"offset"]}`` with ICAT's statuses (BAD_PARAMETER 400,
  INSUFFICIENT_PRIVILEGES 403, SESSION 403, NO_SUCH_OBJECT_FOUND 404, OBJECT_ALREADY_EXISTS 412,
  VALIDATION 412, INTERNAL 500). Writes are transactional; unknown fields are refused; not-null
  columns, string lengths and unique keys are checked; dates must be
  ``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``.
* Searches take the JPQL subset ICAT clients use: ``SELECT [DISTINCT] x|x.attr|COUNT(x) FROM
  Entity x [[LEFT] JOIN x.rel [AS] y]… [WHERE …] [ORDER BY …] [INCLUDE …] [LIMIT a, b]`` with
  =, <>, <, >, LIKE, IN, IS [NOT] NULL, AND, OR, NOT and parentheses. As in ICAT, a JOIN
  adds no implicit DISTINCT (an investigation comes back once per role of the user unless
  the query says ``SELECT DISTINCT``), and read rules apply to every joined entity: a row
  whose joined entity the user may not read is dropped, without an error. Rules: participants
  of an investigation see it and what is in it; the ``rules`` control takes read access to
  whole entity types away (as a facility's missing rule does).
* An unknown URL under ``/icat`` or ``/ids`` answers 501 ``{"code": "NOT_IMPLEMENTED",
  "message": "Operation not implemented by this ICAT|IDS server."}`` (their
  NotFoundExceptionMappers).
* IDS under ``/ids``: ``ping``, ``version``, ``isReadOnly``, ``isTwoLevel``, ``getIcatUrl``,
  ``getServiceStatus``, ``PUT put`` (query parameters, octet-stream body, 201
  ``{"id","checksum","location","size"}``; a body cut short, before its Content-Length or
  its last chunk, is a failed request and stores nothing), ``getData`` (by selection or
  ``preparedId``, with ``Range: bytes=N-``), ``getSize``, ``getDatafileIds``, ``getStatus``,
  ``POST prepareData``, ``isPrepared``, ``POST restore``, ``POST archive``, ``POST write``,
  ``POST reset``, ``DELETE delete``. Errors are ``{"code": <exception class>,
  "message"}`` (BadRequestException 400, InsufficientPrivilegesException 403, NotFoundException
  404, DataNotOnlineException 503, NotImplementedException 501, InternalException 500). Bytes
  live under the data dir.

Test-only controls (besides those of ``http_emulator``): ``state`` (every entity), ``rules``
(``unreadable``: entity types no participant may read),
``sessions`` (``expire_all``, ``expire_after_calls``, ``lifetime_minutes``), ``ids``
(``read_only``), ``archive`` (``dataset_id``, ``restore_polls``), ``seed`` (add
investigations, users, creators), ``users``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import uuid
import zipfile
import zlib
from datetime import datetime, timezone

from tests.servers.http_emulator import Emulator, EmulatorProcess, Request, Response, main, route

# ------------------------------------------------------------------------------- the schema
S, L, D, B, DATE, ENUM = "String", "Long", "Double", "boolean", "Date", "ParameterValueType"

#: entity → attrs {name: (type, max length)}, one {rel: target}, many {rel: (child, backref)},
#: required columns, unique key
SCHEMA: dict[str, dict] = {
    "Facility": dict(attrs={"name": (S, 255), "fullName": (S, 255), "description": (S, 1023),
                            "url": (S, 255), "daysUntilRelease": ("Integer", 0)},
                     one={}, many={"investigations": ("Investigation", "facility"),
                                   "datasetTypes": ("DatasetType", "facility"),
                                   "datafileFormats": ("DatafileFormat", "facility"),
                                   "parameterTypes": ("ParameterType", "facility"),
                                   "investigationTypes": ("InvestigationType", "facility")},
                     required=["name"], unique=["name"]),
    "InvestigationType": dict(attrs={"name": (S, 255), "description": (S, 255)},
                              one={"facility": "Facility"}, many={},
                              required=["name", "facility"], unique=["name", "facility"]),
    "Investigation": dict(attrs={"name": (S, 255), "title": (S, 255), "visitId": (S, 255),
                                 "summary": (S, 4000), "doi": (S, 255), "startDate": (DATE, 0),
                                 "endDate": (DATE, 0), "releaseDate": (DATE, 0),
                                 "fileSize": (L, 0), "fileCount": (L, 0)},
                          one={"facility": "Facility", "type": "InvestigationType"},
                          many={"datasets": ("Dataset", "investigation"),
                                "investigationUsers": ("InvestigationUser", "investigation"),
                                "samples": ("Sample", "investigation")},
                          required=["facility", "name", "title", "type", "visitId"],
                          unique=["facility", "name", "visitId"]),
    "User": dict(attrs={"name": (S, 255), "fullName": (S, 255), "email": (S, 255),
                        "givenName": (S, 255), "familyName": (S, 255), "affiliation": (S, 255),
                        "orcidId": (S, 255)},
                 one={}, many={"investigationUsers": ("InvestigationUser", "user")},
                 required=["name"], unique=["name"]),
    "InvestigationUser": dict(attrs={"role": (S, 255)},
                              one={"user": "User", "investigation": "Investigation"}, many={},
                              required=["role", "user", "investigation"],
                              unique=["user", "investigation", "role"]),
    "Sample": dict(attrs={"name": (S, 255), "pid": (S, 255)},
                   one={"investigation": "Investigation"},
                   many={"datasets": ("Dataset", "sample")},
                   required=["name", "investigation"], unique=["investigation", "name"]),
    "DatasetType": dict(attrs={"name": (S, 255), "description": (S, 255)},
                        one={"facility": "Facility"}, many={},
                        required=["name", "facility"], unique=["facility", "name"]),
    "Dataset": dict(attrs={"name": (S, 255), "description": (S, 255), "location": (S, 511),
                           "doi": (S, 255), "startDate": (DATE, 0), "endDate": (DATE, 0),
                           "complete": (B, 0), "fileSize": (L, 0), "fileCount": (L, 0)},
                    one={"investigation": "Investigation", "type": "DatasetType",
                         "sample": "Sample"},
                    many={"datafiles": ("Datafile", "dataset"),
                          "parameters": ("DatasetParameter", "dataset")},
                    required=["investigation", "name", "type", "complete"],
                    unique=["investigation", "name"]),
    "DatafileFormat": dict(attrs={"name": (S, 255), "version": (S, 255), "description": (S, 255),
                                  "type": (S, 255)},
                           one={"facility": "Facility"}, many={},
                           required=["name", "version", "facility"],
                           unique=["facility", "name", "version"]),
    "Datafile": dict(attrs={"name": (S, 255), "description": (S, 255), "location": (S, 511),
                            "doi": (S, 255), "fileSize": (L, 0), "checksum": (S, 255),
                            "datafileCreateTime": (DATE, 0), "datafileModTime": (DATE, 0)},
                     one={"dataset": "Dataset", "datafileFormat": "DatafileFormat"}, many={},
                     required=["name", "dataset"], unique=["dataset", "name"]),
    "ParameterType": dict(attrs={"name": (S, 255), "units": (S, 255), "unitsFullName": (S, 255),
                                 "valueType": (ENUM, 0), "description": (S, 255),
                                 "applicableToDataset": (B, 0), "applicableToDatafile": (B, 0),
                                 "applicableToInvestigation": (B, 0),
                                 "applicableToSample": (B, 0),
                                 "applicableToDataCollection": (B, 0), "enforced": (B, 0),
                                 "verified": (B, 0), "minimumNumericValue": (D, 0),
                                 "maximumNumericValue": (D, 0), "pid": (S, 255)},
                          one={"facility": "Facility"}, many={},
                          required=["name", "units", "valueType", "facility"],
                          unique=["facility", "name", "units"]),
    "DatasetParameter": dict(attrs={"stringValue": (S, 4000), "numericValue": (D, 0),
                                    "dateTimeValue": (DATE, 0), "error": (D, 0),
                                    "rangeTop": (D, 0), "rangeBottom": (D, 0)},
                             one={"dataset": "Dataset", "type": "ParameterType"}, many={},
                             required=["dataset", "type"], unique=["dataset", "type"]),
}
DEFAULTS = {"Dataset": {"complete": False, "fileSize": 0, "fileCount": 0},
            "Datafile": {"fileSize": 0}, "Investigation": {"fileSize": 0, "fileCount": 0}}
ICAT_STATUS = {"BAD_PARAMETER": 400, "INSUFFICIENT_PRIVILEGES": 403, "SESSION": 403,
               "NO_SUCH_OBJECT_FOUND": 404, "OBJECT_ALREADY_EXISTS": 412, "VALIDATION": 412,
               "INTERNAL": 500, "NOT_IMPLEMENTED": 501}
IDS_STATUS = {"BadRequestException": 400, "InsufficientPrivilegesException": 403,
              "NotFoundException": 404, "DataNotOnlineException": 503,
              "NotImplementedException": 501, "InternalException": 500,
              "InsufficientStorageException": 500}
DATE_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$")
ROOT_USERS = {"db/root"}


class IcatError(Exception):
    def __init__(self, code: str, message: str, offset: int = -1):
        super().__init__(message)
        self.code, self.message, self.offset = code, message, offset


class IdsError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def icat_now(ts: float) -> str:
    d = datetime.fromtimestamp(ts, timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


# ------------------------------------------------------------------------------- the query
TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)"
                   r"|(?P<op><>|!=|<=|>=|=|<|>)|(?P<punct>[(),])"
                   r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*))")
KEYWORDS = {"SELECT", "FROM", "JOIN", "LEFT", "INNER", "OUTER", "AS", "WHERE", "AND", "OR",
            "NOT", "LIKE", "IN", "IS", "NULL", "ORDER", "BY", "ASC", "DESC", "INCLUDE", "LIMIT",
            "COUNT", "DISTINCT", "TRUE", "FALSE"}


def tokenize(text: str) -> list[tuple[str, object]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise IcatError("BAD_PARAMETER", f"Unexpected character at {pos} in query: "
                                             f"{text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group("str") is not None:
            out.append(("str", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("num") is not None:
            n = m.group("num")
            out.append(("num", float(n) if "." in n else int(n)))
        elif m.group("op"):
            out.append(("op", m.group("op")))
        elif m.group("punct"):
            out.append(("punct", m.group("punct")))
        else:
            word = m.group("name")
            out.append(("kw", word.upper()) if word.upper() in KEYWORDS else ("name", word))
    return out


class Query:
    """A parsed ICAT JPQL query."""

    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0
        self.parse()

    # -- token helpers
    def peek(self, kind=None, value=None):
        if self.i >= len(self.toks):
            return None
        k, v = self.toks[self.i]
        if (kind is None or k == kind) and (value is None or v == value):
            return self.toks[self.i]
        return None

    def take(self, kind=None, value=None):
        tok = self.peek(kind, value)
        if tok is None:
            got = self.toks[self.i][1] if self.i < len(self.toks) else "end of query"
            raise IcatError("BAD_PARAMETER", f"Expected {value or kind} but found {got!r} in "
                                             "query")
        self.i += 1
        return tok[1]

    def kw(self, *words) -> bool:
        for j, w in enumerate(words):
            if self.i + j >= len(self.toks) or self.toks[self.i + j] != ("kw", w):
                return False
        self.i += len(words)
        return True

    # -- grammar
    def parse(self) -> None:
        self.take("kw", "SELECT")
        self.distinct = self.kw("DISTINCT")
        self.count = False
        self.count_distinct = False
        if self.kw("COUNT"):
            self.take("punct", "(")
            self.count_distinct = self.kw("DISTINCT")
            self.select = self.take("name")
            self.take("punct", ")")
            self.count = True
        else:
            self.select = self.take("name")
        self.take("kw", "FROM")
        self.entity = self.take("name")
        if self.entity not in SCHEMA:
            raise IcatError("BAD_PARAMETER", f"{self.entity} is not an ICAT entity")
        self.root = self.take("name")
        self.joins = []  # (path, alias, left)
        while True:
            left = False
            if self.kw("LEFT"):
                self.kw("OUTER")
                left = True
            elif self.kw("INNER"):
                pass
            if not self.kw("JOIN"):
                if left:
                    raise IcatError("BAD_PARAMETER", "LEFT must be followed by JOIN")
                break
            path = self.take("name")
            self.kw("AS")
            self.joins.append((path, self.take("name"), left))
        self.where = None
        if self.kw("WHERE"):
            self.where = self.cond()
        self.order = []
        if self.kw("ORDER", "BY"):
            while True:
                path = self.take("name")
                desc = self.kw("DESC")
                if not desc:
                    self.kw("ASC")
                self.order.append((path, desc))
                if not self.peek("punct", ","):
                    break
                self.take("punct", ",")
        self.includes = []  # (path, alias or None); ("1", None) for INCLUDE 1
        if self.kw("INCLUDE"):
            if self.peek("num"):
                self.includes.append((str(self.take("num")), None))
            else:
                while True:
                    path = self.take("name")
                    alias = None
                    if self.kw("AS") or self.peek("name"):
                        alias = self.take("name")
                    self.includes.append((path, alias))
                    if not self.peek("punct", ","):
                        break
                    self.take("punct", ",")
        self.limit = None
        if self.kw("LIMIT"):
            skip = self.take("num")
            self.take("punct", ",")
            self.limit = (int(skip), int(self.take("num")))
        if self.i != len(self.toks):
            raise IcatError("BAD_PARAMETER", f"Unexpected {self.toks[self.i][1]!r} in query")

    def cond(self):
        node = self.and_cond()
        while self.kw("OR"):
            node = ("or", node, self.and_cond())
        return node

    def and_cond(self):
        node = self.not_cond()
        while self.kw("AND"):
            node = ("and", node, self.not_cond())
        return node

    def not_cond(self):
        if self.kw("NOT"):
            return ("not", self.not_cond())
        if self.peek("punct", "("):
            self.take("punct", "(")
            node = self.cond()
            self.take("punct", ")")
            return node
        path = self.take("name")
        if self.kw("IS"):
            neg = self.kw("NOT")
            self.take("kw", "NULL")
            return ("null", path, neg)
        neg = self.kw("NOT")
        if self.kw("LIKE"):
            return ("like", path, self.take("str"), neg)
        if self.kw("IN"):
            self.take("punct", "(")
            values = [self.literal()]
            while self.peek("punct", ","):
                self.take("punct", ",")
                values.append(self.literal())
            self.take("punct", ")")
            return ("in", path, values, neg)
        if neg:
            raise IcatError("BAD_PARAMETER", "NOT must precede LIKE or IN here")
        op = self.take("op")
        return ("cmp", path, op, self.literal())

    def literal(self):
        tok = self.peek()
        if tok is None:
            raise IcatError("BAD_PARAMETER", "A value is missing at the end of the query")
        if tok[0] in ("str", "num"):
            self.i += 1
            return tok[1]
        if tok == ("kw", "TRUE") or tok == ("kw", "FALSE"):
            self.i += 1
            return tok[1] == "TRUE"
        raise IcatError("BAD_PARAMETER", f"Expected a value but found {tok[1]!r} in query")


# ------------------------------------------------------------------------------- the emulator
def default_seed() -> dict:
    return {
        "facility": "TESTFAC",
        "authenticators": [
            {"mnemonic": "simple", "keys": [{"name": "username"},
                                             {"name": "password", "hide": True}],
             "friendly": "Facility account"},
            {"mnemonic": "ldap", "keys": [{"name": "username"}, {"name": "password", "hide": True}],
             "friendly": "Institute (LDAP)"},
            {"mnemonic": "anon", "keys": []},
            {"mnemonic": "db", "keys": [{"name": "username"}, {"name": "password", "hide": True}],
             "admin": True},
        ],
        "users": {"simple/jdoe": "secret", "simple/other": "secret2", "ldap/asmith": "ldap-pw",
                  "db/root": "rootpw"},
        "investigation_types": ["experiment"],
        "dataset_types": ["raw", "processed"],
        "datafile_formats": [["other", "1"], ["hdf5", "1.10"]],
        "parameter_types": [["datauploader_key", "N/A", "STRING"], ["keywords", "N/A", "STRING"],
                            ["energy_keV", "keV", "NUMERIC"], ["exposure_s", "s", "NUMERIC"],
                            ["comment", "N/A", "STRING"], ["started", "N/A", "DATE_AND_TIME"]],
        "investigations": [
            {"name": "MX-1", "title": "Lysozyme structures", "users": ["simple/jdoe", "ldap/asmith"],
             "samples": ["lysozyme"],
             # two roles: a JOIN over investigationUsers returns MX-1 twice for jdoe
             "roles": {"simple/jdoe": ["principal_experimenter", "experimenter"]}},
            {"name": "MX-2", "title": "Insulin crystals", "users": ["simple/jdoe"]},
            {"name": "MX-3", "title": "Someone else's beamtime", "users": ["simple/other"]},
        ],
        "creators": [],
    }


class ICATEmulator(Emulator):
    def reset(self) -> None:
        super().reset()
        self.seed = default_seed()
        self.store: dict[str, dict[int, dict]] = {name: {} for name in SCHEMA}
        self.keys: dict[str, dict[tuple, int]] = {name: {} for name in SCHEMA}  # unique keys
        self.next_id = 1
        self.sessions: dict[str, dict] = {}
        self.lifetime_minutes = 120
        self.expire_after_calls: int | None = None
        self.read_only = False
        self.status: dict[int, str] = {}  # dataset id → ARCHIVED | RESTORING (else ONLINE)
        self.restore_polls: dict[int, int] = {}
        self.default_restore_polls = 2
        self.unreadable: set[str] = set()  # entity types the rules let no participant read
        self.prepared: dict[str, dict] = {}  # preparedId → the selection it names
        self.data_dir = os.path.join(self.args.data_dir or ".", "ids")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        os.makedirs(self.data_dir, exist_ok=True)
        self._load_seed(self.seed)

    # -- seed -------------------------------------------------------------------------------
    def _insert(self, entity: str, values: dict, user: str = "db/root") -> int:
        rec = {"id": self.next_id, "createId": user, "modId": user,
               "createTime": icat_now(self.now()), "modTime": icat_now(self.now())}
        rec.update(DEFAULTS.get(entity, {}))
        rec.update(values)
        self.store[entity][self.next_id] = rec
        self.keys[entity][self._key(entity, rec)] = rec["id"]
        self.next_id += 1
        return rec["id"]

    @staticmethod
    def _key(entity: str, rec: dict) -> tuple:
        return tuple(rec.get(k) for k in SCHEMA[entity]["unique"])

    def _remove(self, entity: str, rec_id: int) -> None:
        rec = self.store[entity].pop(rec_id, None)
        if rec is not None:
            self.keys[entity].pop(self._key(entity, rec), None)

    def _find(self, entity: str, **match) -> dict | None:
        for rec in self.store[entity].values():
            if all(rec.get(k) == v for k, v in match.items()):
                return rec
        return None

    def _load_seed(self, seed: dict) -> None:
        fac = self._find("Facility", name=seed["facility"])
        fid = fac["id"] if fac else self._insert("Facility", {"name": seed["facility"]})
        for name in seed.get("investigation_types", []):
            self._find("InvestigationType", name=name) or self._insert(
                "InvestigationType", {"name": name, "facility": fid})
        for name in seed.get("dataset_types", []):
            self._find("DatasetType", name=name) or self._insert(
                "DatasetType", {"name": name, "facility": fid})
        for name, version in seed.get("datafile_formats", []):
            self._find("DatafileFormat", name=name, version=version) or self._insert(
                "DatafileFormat", {"name": name, "version": version, "facility": fid})
        for name, units, kind in seed.get("parameter_types", []):
            self._find("ParameterType", name=name, units=units) or self._insert(
                "ParameterType", {"name": name, "units": units, "valueType": kind,
                                  "facility": fid, "applicableToDataset": True,
                                  "applicableToDatafile": False,
                                  "applicableToInvestigation": False,
                                  "applicableToSample": False,
                                  "applicableToDataCollection": False, "enforced": False,
                                  "verified": True})
        for user in seed.get("users", {}):
            self._find("User", name=user) or self._insert("User", {"name": user})
        itype = self._find("InvestigationType", name=seed.get("investigation_types", ["experiment"])[0])
        for inv in seed.get("investigations", []):
            iid = self._insert("Investigation", {
                "name": inv["name"], "title": inv.get("title", inv["name"]),
                "visitId": inv.get("visitId", "1"), "facility": fid, "type": itype["id"]})
            for user in inv.get("users", []):
                uid = (self._find("User", name=user) or {}).get("id") or self._insert(
                    "User", {"name": user})
                for role in inv.get("roles", {}).get(user, ["experimenter"]):
                    self._insert("InvestigationUser", {"user": uid, "investigation": iid,
                                                       "role": role})
            for sample in inv.get("samples", []):
                self._insert("Sample", {"name": sample, "investigation": iid})

    # -- errors -----------------------------------------------------------------------------
    @staticmethod
    def icat_error(e: IcatError) -> Response:
        body = {"code": e.code, "message": e.message}
        if e.offset >= 0:
            body["offset"] = e.offset
        return Response.json(body, ICAT_STATUS[e.code])

    @staticmethod
    def ids_error(e: IdsError) -> Response:
        return Response.json({"code": e.code, "message": e.message}, IDS_STATUS[e.code])

    def not_found(self, req: Request) -> Response:
        top = req.segments[0].lower() if req.segments else ""
        if top in ("icat", "ids"):  # their NotFoundExceptionMappers
            server = "ICAT" if top == "icat" else "IDS"
            return Response.json({"code": "NOT_IMPLEMENTED", "message": "Operation not "
                                  f"implemented by this {server} server."}, 501)
        return Response.text("<html><body>Not Found</body></html>", 404)

    # -- sessions ---------------------------------------------------------------------------
    def user_of(self, sid: str | None) -> str:
        if not sid:
            raise IcatError("SESSION", "Session Id cannot be null or empty.")
        s = self.sessions.get(sid)
        if s is None:
            raise IcatError("SESSION", f"Unable to find user by sessionid: {sid}")
        if s["calls_left"] is not None:
            if s["calls_left"] <= 0:
                s["expires"] = 0
            s["calls_left"] -= 1
        if s["expires"] <= self.now():
            raise IcatError("SESSION", f"Session id:{sid} has expired")
        return s["user"]

    @route("GET", "/icat/properties")
    def properties(self, req: Request) -> Response:
        return Response.json({"maxEntities": 10000, "lifetimeMinutes": self.lifetime_minutes,
                              "authenticators": self.seed["authenticators"],
                              "containerType": "Payara"})

    @route("GET", "/icat/version")
    def version(self, req: Request) -> Response:
        return Response.json({"version": "6.1.0"})

    @route("POST", "/icat/session")
    def login(self, req: Request) -> Response:
        try:
            if req.content_type != "application/x-www-form-urlencoded":
                return Response.text("Unsupported Media Type", 415)
            raw = req.form().get("json")
            if raw is None:
                raise IcatError("BAD_PARAMETER", "json must not be null")
            try:
                data = json.loads(raw)
            except ValueError as e:
                raise IcatError("BAD_PARAMETER", f"JsonException {e}") from None
            plugin = data.get("plugin")
            auth = next((a for a in self.seed["authenticators"] if a["mnemonic"] == plugin), None)
            if auth is None:
                raise IcatError("SESSION", f"Authenticator mnemonic {plugin} not recognised")
            creds = {}
            for item in data.get("credentials", []):
                creds.update(item)
            if plugin == "anon":
                user = "anon/anon"
            else:
                user = f"{plugin}/{creds.get('username', '')}"
                if not creds.get("username") or not creds.get("password"):
                    raise IcatError("SESSION", "The username and password must be set")
                if self.seed["users"].get(user) != creds.get("password"):
                    raise IcatError("SESSION", "The username and password do not match")
            sid = str(uuid.uuid4())
            self.sessions[sid] = {"user": user, "expires": self.now() + self.lifetime_minutes * 60,
                                  "calls_left": self.expire_after_calls}
            return Response.json({"sessionId": sid})
        except IcatError as e:
            return self.icat_error(e)

    @route("GET", "/icat/session/{sid}")
    def session_info(self, req: Request) -> Response:
        try:
            user = self.user_of(req.params["sid"])
            remaining = (self.sessions[req.params["sid"]]["expires"] - self.now()) / 60
            return Response.json({"userName": user, "remainingMinutes": remaining})
        except IcatError as e:
            return self.icat_error(e)

    @route("PUT", "/icat/session/{sid}")
    def refresh(self, req: Request) -> Response:
        try:
            self.user_of(req.params["sid"])
            self.sessions[req.params["sid"]]["expires"] = self.now() + self.lifetime_minutes * 60
            return Response(204)
        except IcatError as e:
            return self.icat_error(e)

    @route("DELETE", "/icat/session/{sid}")
    def logout(self, req: Request) -> Response:
        try:
            self.user_of(req.params["sid"])
            del self.sessions[req.params["sid"]]
            return Response(204)
        except IcatError as e:
            return self.icat_error(e)

    # -- rules ------------------------------------------------------------------------------
    def _investigation_of(self, entity: str, rec: dict) -> int | None:
        if entity == "Investigation":
            return rec["id"]
        if entity in ("InvestigationUser", "Sample", "Dataset"):
            return rec.get("investigation")
        if entity in ("Datafile", "DatasetParameter"):
            ds = self.store["Dataset"].get(rec.get("dataset"))
            return ds and ds.get("investigation")
        return None

    def _member(self, user: str, inv_id: int | None) -> bool:
        if inv_id is None:
            return False
        uid = (self._find("User", name=user) or {}).get("id")
        return any(iu["user"] == uid and iu["investigation"] == inv_id
                   for iu in self.store["InvestigationUser"].values())

    def can_read(self, user: str, entity: str, rec: dict) -> bool:
        if user in ROOT_USERS:
            return True
        if entity in self.unreadable:
            return False
        if entity in ("Facility", "InvestigationType", "DatasetType", "DatafileFormat",
                      "ParameterType", "User"):
            return True
        return self._member(user, self._investigation_of(entity, rec))

    def check_write(self, user: str, access: str, entity: str, rec: dict) -> None:
        if user in ROOT_USERS:
            return
        ok = False
        if entity in ("Investigation", "InvestigationUser"):
            ok = access == "CREATE" and user in self.seed.get("creators", [])
        elif entity in ("Dataset", "DatasetParameter", "Sample"):
            ok = self._member(user, self._investigation_of(entity, rec))
        elif entity == "Datafile":
            ds = self.store["Dataset"].get(rec.get("dataset")) or {}
            ok = self._member(user, ds.get("investigation")) and not ds.get("complete")
        if not ok:
            raise IcatError("INSUFFICIENT_PRIVILEGES",
                            f"{access} access to this {entity} is not allowed.")

    # -- search -----------------------------------------------------------------------------
    def _resolve(self, row: dict, aliases: dict, path: str):
        """(value, kind) of a path such as ``ds.investigation.id`` in a row."""
        first, *rest = path.split(".")
        if first not in aliases:
            raise IcatError("BAD_PARAMETER", f"Unknown identifier {first} in query")
        entity, rec = aliases[first], row.get(first)
        for i, part in enumerate(rest):
            sch = SCHEMA[entity]
            if rec is None:
                return None
            if part == "id":
                return rec["id"]
            if part in sch["attrs"]:
                if i != len(rest) - 1:
                    raise IcatError("BAD_PARAMETER", f"{part} of {entity} is not a relationship")
                return rec.get(part)
            if part in sch["one"]:
                entity = sch["one"][part]
                rec = self.store[entity].get(rec.get(part))
                continue
            if part in sch["many"]:
                raise IcatError("BAD_PARAMETER", f"{part} of {entity} is a collection: JOIN it")
            raise IcatError("BAD_PARAMETER", f"Field {part} not found in {entity}")
        return rec

    def _alias_entity(self, aliases: dict, path: str) -> tuple[str, str]:
        """(entity the path leads to, relation kind) for a JOIN path."""
        first, *rest = path.split(".")
        if first not in aliases or len(rest) != 1:
            raise IcatError("BAD_PARAMETER", f"Bad JOIN path {path}")
        sch = SCHEMA[aliases[first]]
        rel = rest[0]
        if rel in sch["one"]:
            return sch["one"][rel], "one"
        if rel in sch["many"]:
            return sch["many"][rel][0], "many"
        raise IcatError("BAD_PARAMETER", f"Field {rel} not found in {aliases[first]}")

    def _children(self, entity: str, rec: dict, rel: str) -> list[dict]:
        child, back = SCHEMA[entity]["many"][rel]
        return [c for c in self.store[child].values() if c.get(back) == rec["id"]]

    def _test(self, node, row, aliases) -> bool:
        kind = node[0]
        if kind == "and":
            return self._test(node[1], row, aliases) and self._test(node[2], row, aliases)
        if kind == "or":
            return self._test(node[1], row, aliases) or self._test(node[2], row, aliases)
        if kind == "not":
            return not self._test(node[1], row, aliases)
        value = self._resolve(row, aliases, node[1])
        if isinstance(value, dict):
            value = value["id"]
        if kind == "null":
            return (value is not None) if node[2] else (value is None)
        if kind == "like":
            if value is None:
                return False
            pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                              for c in node[2])
            hit = re.fullmatch(pattern, str(value), re.S) is not None
            return hit != node[3]
        if kind == "in":
            return (value in node[2]) != node[3]
        op, lit = node[2], node[3]
        if value is None:
            return False
        try:
            return {"=": value == lit, "<>": value != lit, "!=": value != lit, "<": value < lit,
                    ">": value > lit, "<=": value <= lit, ">=": value >= lit}[op]
        except TypeError:
            raise IcatError("BAD_PARAMETER", f"Cannot compare {node[1]} with {lit!r}") from None

    def search(self, user: str, text: str) -> list:
        if not text.strip().upper().startswith("SELECT"):
            raise IcatError("BAD_PARAMETER", "This emulator takes JPQL queries starting with "
                                             "SELECT")
        q = Query(text)
        aliases = {q.root: q.entity}
        rows = [{q.root: rec} for rec in self.store[q.entity].values()
                if self.can_read(user, q.entity, rec)]
        for path, alias, left in q.joins:
            target, kind = self._alias_entity(aliases, path)
            aliases[alias] = target
            src, rel = path.split(".")
            out = []
            for row in rows:
                base = row[src]
                found = [] if base is None else (
                    self._children(aliases[src], base, rel) if kind == "many" else
                    [r for r in [self.store[target].get(base.get(rel))] if r is not None])
                # the read rules apply to every joined entity: an unreadable one drops the row
                found = [r for r in found if self.can_read(user, target, r)]
                if not found and left:
                    out.append({**row, alias: None})
                for r in found:
                    out.append({**row, alias: r})
            rows = out
        if q.where is not None:
            rows = [r for r in rows if self._test(q.where, r, aliases)]
        for path, desc in reversed(q.order):
            rows.sort(key=lambda r: (self._sort_key(self._resolve(r, aliases, path))),
                      reverse=desc)
        if q.count:
            return [len({r[q.root]["id"] for r in rows} if q.count_distinct else rows)]
        if "." in q.select:
            values = [self._resolve(r, aliases, q.select) for r in rows]
            values = [v["id"] if isinstance(v, dict) else v for v in values]
            if q.distinct:
                values = list(dict.fromkeys(values))
        else:
            if q.select not in aliases:
                raise IcatError("BAD_PARAMETER", f"Unknown identifier {q.select} in query")
            seen, values = set(), []
            for r in rows:  # one result per row, as ICAT: no implicit DISTINCT
                rec = r[q.select]
                if rec is None or (q.distinct and rec["id"] in seen):
                    continue
                seen.add(rec["id"])
                values.append(rec)
        if q.limit:
            values = values[q.limit[0]:q.limit[0] + q.limit[1]]
        if "." in q.select:
            return values
        entity = aliases[q.select]
        tree = self._include_tree(q, aliases, entity)
        counter = [0]
        out = [{entity: self._jsonise(entity, rec, tree, user, counter)} for rec in values]
        if counter[0] > 10000:
            raise IcatError("VALIDATION", "attempt to return more than 10000 entities")
        return out

    @staticmethod
    def _sort_key(v):
        if isinstance(v, dict):
            v = v["id"]
        return (v is None, v if v is not None else 0)

    def _include_tree(self, q: Query, aliases: dict, entity: str) -> dict:
        tree: dict = {}
        nodes = {q.root: (tree, entity)}
        for path, alias in q.includes:
            if path == "1":
                for rel in SCHEMA[entity]["one"]:
                    tree.setdefault(rel, {})
                continue
            first, *rest = path.split(".")
            if first not in nodes or len(rest) != 1:
                raise IcatError("BAD_PARAMETER", f"Bad INCLUDE path {path}")
            node, ent = nodes[first]
            rel = rest[0]
            sch = SCHEMA[ent]
            target = sch["one"].get(rel) or (sch["many"].get(rel) or (None,))[0]
            if target is None:
                raise IcatError("BAD_PARAMETER", f"Field {rel} not found in {ent}")
            sub = node.setdefault(rel, {})
            if alias:
                nodes[alias] = (sub, target)
        return tree

    def _jsonise(self, entity: str, rec: dict, tree: dict, user: str, counter: list) -> dict:
        counter[0] += 1
        sch = SCHEMA[entity]
        out = {k: rec[k] for k in ("id", "createId", "createTime", "modId", "modTime")}
        for name in sch["attrs"]:
            if rec.get(name) is not None:
                out[name] = rec[name]
        for rel, sub in tree.items():
            if rel in sch["one"]:
                target = self.store[sch["one"][rel]].get(rec.get(rel))
                if target is not None:
                    out[rel] = self._jsonise(sch["one"][rel], target, sub, user, counter)
            else:
                child = sch["many"][rel][0]
                out[rel] = [self._jsonise(child, c, sub, user, counter)
                            for c in sorted(self._children(entity, rec, rel), key=lambda c: c["id"])
                            if self.can_read(user, child, c)]
        return out

    @route("GET", "/icat/entityManager")
    def entity_get(self, req: Request) -> Response:
        try:
            query = req.q("query")
            if query is None:
                raise IcatError("BAD_PARAMETER", "query is not set")
            user = self.user_of(req.q("sessionId"))
            if req.q("id") is not None:
                raise IcatError("BAD_PARAMETER", "get by id is not emulated: use a query")
            return Response.json(self.search(user, query))
        except IcatError as e:
            return self.icat_error(e)

    # -- write ------------------------------------------------------------------------------
    @route("POST", "/icat/entityManager")
    def entity_post(self, req: Request) -> Response:
        if req.content_type != "application/x-www-form-urlencoded":
            return Response.text("Unsupported Media Type", 415)
        form = req.form()
        undo: list = []
        offset = -1
        try:
            user = self.user_of(form.get("sessionId"))
            raw = form.get("entities")
            if raw is None:
                raise IcatError("BAD_PARAMETER", "entities is not set")
            try:
                top = json.loads(raw)
            except ValueError as e:
                raise IcatError("BAD_PARAMETER", f"{e} in json {raw[:200]}") from None
            ids = []
            for offset, item in enumerate(top if isinstance(top, list) else [top]):
                if not isinstance(item, dict) or len(item) != 1:
                    raise IcatError("BAD_PARAMETER", "Entity must have one keyword followed by "
                                                     f"its values in json {json.dumps(item)[:200]}")
                (entity, contents), = item.items()
                if entity not in SCHEMA:
                    raise IcatError("BAD_PARAMETER", f"{entity} is not an ICAT entity")
                if not isinstance(contents, dict):
                    raise IcatError("BAD_PARAMETER", f"Unexpected array found in JSON {contents}")
                if "id" in contents:
                    self._update(user, entity, contents, undo)
                else:
                    ids.append(self._create(user, entity, contents, undo, None))
            return Response.json(ids)
        except IcatError as e:
            for action in reversed(undo):
                action()
            if e.offset < 0 and offset >= 0:
                e.offset = offset
            return self.icat_error(e)

    def _set_attr(self, entity: str, rec: dict, name: str, value) -> None:
        kind, _ = SCHEMA[entity]["attrs"][name]
        if value is None:
            rec[name] = None
            return
        ok = {S: isinstance(value, str), L: isinstance(value, int) and not isinstance(value, bool),
              "Integer": isinstance(value, int) and not isinstance(value, bool),
              D: isinstance(value, (int, float)) and not isinstance(value, bool),
              B: isinstance(value, bool), ENUM: value in ("NUMERIC", "STRING", "DATE_AND_TIME"),
              DATE: isinstance(value, str) and DATE_RE.match(value) is not None}[kind]
        if not ok:
            if kind == DATE:
                raise IcatError("BAD_PARAMETER", f"Badly formatted date {json.dumps(value)}")
            if kind == B:
                raise IcatError("BAD_PARAMETER", f"Field {name} must be true or false in {entity}")
            raise IcatError("BAD_PARAMETER", f"Field {name} of {entity} must be a {kind}")
        rec[name] = float(value) if kind == D else value

    def _create(self, user: str, entity: str, contents: dict, undo: list,
                parent: tuple[str, int] | None) -> int:
        sch = SCHEMA[entity]
        rec: dict = dict(DEFAULTS.get(entity, {}))
        children = []
        if parent:
            rec[parent[0]] = parent[1]
        for name, value in contents.items():
            if name in sch["attrs"]:
                self._set_attr(entity, rec, name, value)
            elif name in sch["one"]:
                if not isinstance(value, dict):
                    raise IcatError("BAD_PARAMETER", f"Badly formatted relationship object {value}")
                if "id" not in value:
                    raise IcatError("BAD_PARAMETER", "Many to one related objects should have the "
                                                     f"id value set: {json.dumps(value)}")
                if len(value) != 1:
                    raise IcatError("BAD_PARAMETER", "Updating a referenced object is not emulated")
                if value["id"] not in self.store[sch["one"][name]]:
                    raise IcatError("NO_SUCH_OBJECT_FOUND", f"{sch['one'][name]}:{value['id']}")
                rec[name] = value["id"]
            elif name in sch["many"]:
                if not isinstance(value, list):
                    raise IcatError("BAD_PARAMETER", f"Field {name} of {entity} must be a list")
                for c in value:
                    if not isinstance(c, dict) or "id" in c:
                        raise IcatError("BAD_PARAMETER", "One to many related objects should not "
                                                         f"have the id value set: {json.dumps(c)}")
                    children.append((sch["many"][name], c))
            elif name == "id":
                raise IcatError("BAD_PARAMETER", "id must not be set on a new object")
            else:
                raise IcatError("BAD_PARAMETER", f"Field {name} not found in {entity}")
        self._validate(entity, rec)
        self._unique(entity, rec, None)
        self.check_write(user, "CREATE", entity, rec)
        new_id = self._insert(entity, rec, user)
        undo.append(lambda: self._remove(entity, new_id))
        for (child, back), c in children:
            self._create(user, child, c, undo, (back, new_id))
        return new_id

    def _update(self, user: str, entity: str, contents: dict, undo: list) -> None:
        rec = self.store[entity].get(contents["id"])
        if rec is None or not self.can_read(user, entity, rec):
            raise IcatError("NO_SUCH_OBJECT_FOUND", f"{entity}:{contents['id']}")
        self.check_write(user, "UPDATE", entity, rec)
        old = dict(rec)
        self.keys[entity].pop(self._key(entity, rec), None)

        def restore():
            self.keys[entity].pop(self._key(entity, rec), None)
            rec.clear()
            rec.update(old)
            self.keys[entity][self._key(entity, rec)] = rec["id"]
        undo.append(restore)
        sch = SCHEMA[entity]
        for name, value in contents.items():
            if name == "id":
                continue
            if name in sch["attrs"]:
                self._set_attr(entity, rec, name, value)
            elif name in sch["one"]:
                if not isinstance(value, dict) or set(value) != {"id"}:
                    raise IcatError("BAD_PARAMETER", f"Badly formatted relationship object {value}")
                rec[name] = value["id"]
            else:
                raise IcatError("BAD_PARAMETER", f"Field {name} not found in {entity}")
        self._validate(entity, rec)
        self._unique(entity, rec, rec["id"])
        self.keys[entity][self._key(entity, rec)] = rec["id"]
        rec["modId"], rec["modTime"] = user, icat_now(self.now())

    def _validate(self, entity: str, rec: dict) -> None:
        sch = SCHEMA[entity]
        for name in sch["required"]:
            if rec.get(name) is None:
                raise IcatError("VALIDATION", f"{entity}: {name} cannot be null.")
        for name, (kind, length) in sch["attrs"].items():
            if kind == S and rec.get(name) is not None and len(rec[name]) > length:
                raise IcatError("VALIDATION", f"{entity}: {name} cannot have length > {length}")

    def _unique(self, entity: str, rec: dict, own_id: int | None) -> None:
        other = self.keys[entity].get(self._key(entity, rec))
        if other is not None and other != own_id:
            raise IcatError("OBJECT_ALREADY_EXISTS", f"{entity} exists with " + ", ".join(
                f"{k} = '{rec.get(k)}'" for k in SCHEMA[entity]["unique"]))

    @route("DELETE", "/icat/entityManager")
    def entity_delete(self, req: Request) -> Response:
        try:
            raw = req.q("entities")
            if raw is None:
                raise IcatError("BAD_PARAMETER", "entities is not set")
            user = self.user_of(req.q("sessionId"))
            items = json.loads(raw)
            for item in items if isinstance(items, list) else [items]:
                (entity, contents), = item.items()
                rec = self.store[entity].get(contents.get("id"))
                if rec is None:
                    raise IcatError("NO_SUCH_OBJECT_FOUND", f"{entity}:{contents.get('id')}")
                self.check_write(user, "DELETE", entity, rec)
                self._remove(entity, rec["id"])
            return Response(204)
        except IcatError as e:
            return self.icat_error(e)

    # -- IDS --------------------------------------------------------------------------------
    @route("GET", "/ids/ping")
    def ids_ping(self, req: Request) -> Response:
        return Response.text("IdsOK")

    @route("GET", "/ids/version")
    def ids_version(self, req: Request) -> Response:
        return Response.json({"version": "2.1.1"})

    @route("GET", "/ids/isReadOnly")
    def ids_read_only(self, req: Request) -> Response:
        return Response.text("true" if self.read_only else "false")

    @route("GET", "/ids/isTwoLevel")
    def ids_two_level(self, req: Request) -> Response:
        return Response.text("true")

    def _ids_user(self, sid: str | None) -> str:
        try:
            uuid.UUID(sid or "")
        except ValueError:
            raise IdsError("BadRequestException", f"The sessionId parameter '{sid}' is not a "
                                                  "valid UUID") from None
        try:
            return self.user_of(sid)
        except IcatError as e:
            raise IdsError("InsufficientPrivilegesException", e.message) from None

    def _ids_number(self, req: Request, name: str, required: bool = True) -> int | None:
        value = req.q(name)
        if value is None:
            if required:
                raise IdsError("BadRequestException", f"The {name} parameter must be set")
            return None
        try:
            return int(value)
        except ValueError:
            raise IdsError("BadRequestException", f"The {name} parameter must be numeric") from None

    def _online(self, ds_id: int) -> None:
        state = self.status.get(ds_id, "ONLINE")
        if state == "ARCHIVED":
            self.status[ds_id] = "RESTORING"  # restoration requested automatically
            self.restore_polls[ds_id] = self.default_restore_polls
        if state != "ONLINE":
            raise IdsError("DataNotOnlineException", "Before putting, getting or deleting a "
                           "datafile, its dataset has to be restored, restoration requested "
                           "automatically")

    @route("PUT", "/ids/put")
    def ids_put(self, req: Request) -> Response:
        try:
            if self.read_only:
                raise IdsError("NotImplementedException",
                               "This operation has been configured to be unavailable")
            if req.content_type != "application/octet-stream":
                return Response.text("Unsupported Media Type", 415)
            sid = req.q("sessionId")
            user = self._ids_user(sid)
            name = req.q("name")
            if name is None:
                raise IdsError("BadRequestException", "The name parameter must be set")
            fmt = self._ids_number(req, "datafileFormatId")
            ds_id = self._ids_number(req, "datasetId")
            created = self._ids_number(req, "datafileCreateTime", False)
            modified = self._ids_number(req, "datafileModTime", False)
            ds = self.store["Dataset"].get(ds_id)
            if ds is None:
                raise IdsError("NotFoundException", f"Dataset:{ds_id}")
            if not self.can_read(user, "Dataset", ds):
                raise IdsError("InsufficientPrivilegesException",
                               "READ access to this Dataset is not allowed.")
            self._online(ds_id)
            crc = zlib.crc32(req.body) & 0xFFFFFFFF
            inv = ds["investigation"]
            stored = f"{inv}/{ds_id}/{uuid.uuid4()}"
            path = os.path.join(self.data_dir, *stored.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(req.body)
            entity = {"dataset": {"id": ds_id}, "datafileFormat": {"id": fmt}, "name": name,
                      "location": stored, "fileSize": len(req.body), "checksum": f"{crc:x}"}
            for key, ms in (("datafileCreateTime", created), ("datafileModTime", modified)):
                if ms is not None:
                    entity[key] = icat_now(ms / 1000)
            undo: list = []
            try:
                df_id = self._create(user, "Datafile", entity, undo, None)
            except IcatError as e:
                for action in reversed(undo):
                    action()
                os.unlink(path)
                if e.code in ("INSUFFICIENT_PRIVILEGES", "SESSION"):
                    raise IdsError("InsufficientPrivilegesException", e.message) from None
                if e.code == "NO_SUCH_OBJECT_FOUND":
                    raise IdsError("NotFoundException", e.message) from None
                if e.code == "VALIDATION":
                    raise IdsError("BadRequestException", e.message) from None
                raise IdsError("InternalException", f"{e.code} {e.message}") from None
            return Response.json({"id": df_id, "checksum": crc, "location": stored,
                                  "size": len(req.body)}, 201)
        except IdsError as e:
            return self.ids_error(e)

    def _selection(self, req: Request, user: str) -> list[dict]:
        return self._selection_of({k: v[0] for k, v in req.query.items()}, user)

    def _selection_of(self, params: dict, user: str) -> list[dict]:
        files: list[dict] = []
        for inv_id in filter(None, (params.get("investigationIds") or "").split(",")):
            inv = self.store["Investigation"].get(int(inv_id))
            if inv is None:
                raise IdsError("NotFoundException", f"Investigation:{inv_id}")
            for ds in self._children("Investigation", inv, "datasets"):
                files.extend(self._children("Dataset", ds, "datafiles"))
        for df_id in filter(None, (params.get("datafileIds") or "").split(",")):
            df = self.store["Datafile"].get(int(df_id))
            if df is None:
                raise IdsError("NotFoundException", f"Datafile:{df_id}")
            files.append(df)
        for ds_id in filter(None, (params.get("datasetIds") or "").split(",")):
            ds = self.store["Dataset"].get(int(ds_id))
            if ds is None:
                raise IdsError("NotFoundException", f"Dataset:{ds_id}")
            files.extend(self._children("Dataset", ds, "datafiles"))
        for f in files:
            if not self.can_read(user, "Datafile", f):
                raise IdsError("InsufficientPrivilegesException",
                               "READ access to this Datafile is not allowed.")
        return files

    def _prepared_or_selection(self, req: Request, params: dict | None = None) -> tuple:
        """(files, zip wanted, single-datafile request) of a preparedId or a selection."""
        params = params or {k: v[0] for k, v in req.query.items()}
        pid = params.get("preparedId")
        if pid is not None:
            prep = self.prepared.get(pid)
            if prep is None:
                raise IdsError("NotFoundException", f"The preparedId {pid} is not known")
            files = [self.store["Datafile"][i] for i in prep["datafiles"]
                     if i in self.store["Datafile"]]
            return files, prep["zip"], prep["single"]
        user = self._ids_user(params.get("sessionId"))
        files = self._selection_of(params, user)
        single = len(files) == 1 and not params.get("datasetIds") and \
            not params.get("investigationIds")
        return files, params.get("zip") == "true", single

    @route("GET", "/ids/getData")
    def ids_get_data(self, req: Request) -> Response:
        try:
            offset = 0
            if "range" in req.headers:
                m = re.fullmatch(r"bytes=(\d+)-", req.headers["range"].strip())
                if not m:
                    raise IdsError("BadRequestException", "The range must match bytes=(\\d+)-")
                offset = int(m.group(1))
            files, want_zip, single = self._prepared_or_selection(req)
            for ds_id in {f["dataset"] for f in files}:
                self._online(ds_id)
            if single and not want_zip:
                with open(os.path.join(self.data_dir, *files[0]["location"].split("/")), "rb") as fh:
                    data, kind = fh.read(), "application/octet-stream"
            else:
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w") as z:
                    for f in files:
                        z.write(os.path.join(self.data_dir, *f["location"].split("/")),
                                f"ids/{f['dataset']}/{f['name']}")
                data, kind = buf.getvalue(), "application/zip"
            return Response(206 if offset else 200, data[offset:], kind)
        except IdsError as e:
            return self.ids_error(e)

    @route("GET", "/ids/getSize")
    def ids_get_size(self, req: Request) -> Response:
        try:
            files, _, _ = self._prepared_or_selection(req)
            return Response.text(str(sum(int(f.get("fileSize") or 0) for f in files)))
        except IdsError as e:
            return self.ids_error(e)

    @route("GET", "/ids/getDatafileIds")
    def ids_get_datafile_ids(self, req: Request) -> Response:
        try:
            files, _, _ = self._prepared_or_selection(req)
            return Response.json({"ids": sorted(f["id"] for f in files)})
        except IdsError as e:
            return self.ids_error(e)

    @route("POST", "/ids/prepareData")
    def ids_prepare_data(self, req: Request) -> Response:
        try:
            if req.content_type != "application/x-www-form-urlencoded":
                return Response.text("Unsupported Media Type", 415)
            form = req.form()
            files, want_zip, single = self._prepared_or_selection(req, form)
            prepared_id = str(uuid.uuid4())
            self.prepared[prepared_id] = {"datafiles": [f["id"] for f in files],
                                          "zip": want_zip, "single": single}
            return Response.text(prepared_id)
        except IdsError as e:
            return self.ids_error(e)

    @route("GET", "/ids/isPrepared")
    def ids_is_prepared(self, req: Request) -> Response:
        try:
            prep = self.prepared.get(req.q("preparedId") or "")
            if prep is None:
                raise IdsError("NotFoundException", f"The preparedId {req.q('preparedId')} is "
                                                    "not known")
            online = all(self.status.get(self.store["Datafile"][i]["dataset"], "ONLINE")
                         == "ONLINE" for i in prep["datafiles"] if i in self.store["Datafile"])
            return Response.text("true" if online else "false")
        except IdsError as e:
            return self.ids_error(e)

    def _form_selection(self, req: Request, write: bool = False) -> tuple[str, list[dict]]:
        if req.content_type != "application/x-www-form-urlencoded":
            raise IdsError("BadRequestException", "Unsupported Media Type")
        form = req.form()
        if write and self.read_only:
            raise IdsError("NotImplementedException",
                           "This operation has been configured to be unavailable")
        user = self._ids_user(form.get("sessionId"))
        return user, self._selection_of(form, user)

    @route("POST", "/ids/archive")
    def ids_archive(self, req: Request) -> Response:
        try:
            _, files = self._form_selection(req)
            for ds_id in {f["dataset"] for f in files}:
                self.status[ds_id] = "ARCHIVED"
            return Response(204)
        except IdsError as e:
            return self.ids_error(e)

    @route("POST", "/ids/write")
    def ids_write(self, req: Request) -> Response:
        try:
            _, files = self._form_selection(req, write=True)
            for ds_id in {f["dataset"] for f in files}:
                self._online(ds_id)  # writing to the archive needs the data online
            return Response(204)
        except IdsError as e:
            return self.ids_error(e)

    @route("POST", "/ids/reset")
    def ids_reset(self, req: Request) -> Response:
        try:
            if req.content_type != "application/x-www-form-urlencoded":
                return Response.text("Unsupported Media Type", 415)
            self._prepared_or_selection(req, req.form())
            return Response(204)  # nothing failed here, so there is nothing to reset
        except IdsError as e:
            return self.ids_error(e)

    @route("GET", "/ids/getIcatUrl")
    def ids_get_icat_url(self, req: Request) -> Response:
        return Response.text(f"http://{req.headers.get('host', '127.0.0.1')}")

    @route("GET", "/ids/getServiceStatus")
    def ids_service_status(self, req: Request) -> Response:
        try:
            if self._ids_user(req.q("sessionId")) not in ROOT_USERS:
                raise IdsError("InsufficientPrivilegesException",
                               "You are not authorised to get the service status")
            locked = sorted(d for d, st in self.status.items() if st == "RESTORING")
            return Response.json({"opsQueue": [{"data": f"Dataset {d}", "request": "RESTORE"}
                                               for d in locked],
                                  "lockCount": 0, "locks": [], "failures": []})
        except IdsError as e:
            return self.ids_error(e)

    @route("GET", "/ids/getStatus")
    def ids_get_status(self, req: Request) -> Response:
        try:
            if req.q("preparedId") is not None:
                datasets = {f["dataset"] for f in self._prepared_or_selection(req)[0]}
            else:
                user = self._ids_user(req.q("sessionId"))
                datasets = {f["dataset"] for f in self._selection(req, user)}
                datasets |= {int(d) for d in filter(None, (req.q("datasetIds") or "").split(","))}
            status = "ONLINE"
            for ds_id in datasets:
                state = self.status.get(ds_id, "ONLINE")
                if state == "RESTORING":
                    self.restore_polls[ds_id] -= 1
                    if self.restore_polls[ds_id] <= 0:
                        self.status.pop(ds_id)
                        state = "ONLINE"
                if state == "ARCHIVED":
                    status = "ARCHIVED"
                elif state == "RESTORING" and status == "ONLINE":
                    status = "RESTORING"
            return Response.text(status)
        except IdsError as e:
            return self.ids_error(e)

    @route("POST", "/ids/restore")
    def ids_restore(self, req: Request) -> Response:
        try:
            if req.content_type != "application/x-www-form-urlencoded":
                return Response.text("Unsupported Media Type", 415)
            form = req.form()
            user = self._ids_user(form.get("sessionId"))
            for ds_id in filter(None, (form.get("datasetIds") or "").split(",")):
                ds = self.store["Dataset"].get(int(ds_id))
                if ds is None or not self.can_read(user, "Dataset", ds):
                    raise IdsError("NotFoundException", f"Dataset:{ds_id}")
                if self.status.get(int(ds_id)) == "ARCHIVED":
                    self.status[int(ds_id)] = "RESTORING"
                    self.restore_polls[int(ds_id)] = self.default_restore_polls
            return Response(204)
        except IdsError as e:
            return self.ids_error(e)

    @route("DELETE", "/ids/delete")
    def ids_delete(self, req: Request) -> Response:
        try:
            if self.read_only:
                raise IdsError("NotImplementedException",
                               "This operation has been configured to be unavailable")
            user = self._ids_user(req.q("sessionId"))
            for f in self._selection(req, user):
                try:
                    self.check_write(user, "DELETE", "Datafile", f)
                except IcatError as e:
                    raise IdsError("InsufficientPrivilegesException", e.message) from None
                self._remove("Datafile", f["id"])
                try:
                    os.unlink(os.path.join(self.data_dir, *f["location"].split("/")))
                except OSError:
                    pass
            return Response(204)
        except IdsError as e:
            return self.ids_error(e)

    # -- test controls ----------------------------------------------------------------------
    def control_state(self, body: dict) -> dict:
        return {name: list(recs.values()) for name, recs in self.store.items()}

    def control_sessions(self, body: dict) -> dict:
        if "lifetime_minutes" in body:
            self.lifetime_minutes = body["lifetime_minutes"]
        if "expire_after_calls" in body:
            self.expire_after_calls = body["expire_after_calls"]
            for s in self.sessions.values():
                s["calls_left"] = body["expire_after_calls"]
        if body.get("expire_all"):
            for s in self.sessions.values():
                s["expires"] = 0
        return {"sessions": len(self.sessions)}

    def control_rules(self, body: dict) -> dict:
        self.unreadable = set(body.get("unreadable", []))
        return {"unreadable": sorted(self.unreadable)}

    def control_ids(self, body: dict) -> dict:
        self.read_only = bool(body.get("read_only", self.read_only))
        return {"read_only": self.read_only}

    def control_archive(self, body: dict) -> dict:
        self.status[int(body["dataset_id"])] = "ARCHIVED"
        self.default_restore_polls = int(body.get("restore_polls", self.default_restore_polls))
        return {"status": "ARCHIVED"}

    def control_seed(self, body: dict) -> dict:
        for key in ("users",):
            self.seed[key].update(body.get(key, {}))
        self.seed["creators"] = body.get("creators", self.seed["creators"])
        extra = {k: body.get(k, []) for k in ("investigations", "parameter_types",
                                              "dataset_types", "datafile_formats")}
        extra["facility"] = self.seed["facility"]
        extra["users"] = body.get("users", {})
        extra["investigation_types"] = self.seed["investigation_types"]
        self._load_seed(extra)
        return {"ok": True}


class ICATServer(EmulatorProcess):
    """The ICAT + IDS emulator as a process; ``state()`` for assertions."""

    def __init__(self, workdir, args=()):
        super().__init__("tests.servers.icat_emulator", workdir, args)

    def state(self) -> dict:
        return self.control("state")

    def datasets(self) -> list[dict]:
        return self.state()["Dataset"]

    def datafiles(self, dataset_id: int | None = None) -> list[dict]:
        return [f for f in self.state()["Datafile"]
                if dataset_id is None or f["dataset"] == dataset_id]

    def ids_bytes(self, location: str) -> bytes:
        with open(os.path.join(self.workdir, "data", "ids", *location.split("/")), "rb") as f:
            return f.read()

    def catalogue_ini(self, name: str = "icat", extra: str = "") -> str:
        return f"[catalogue:{name}]\ntype = icat\nurl = {self.url}\nfacility = TESTFAC\n{extra}"


if __name__ == "__main__":
    main(ICATEmulator)
