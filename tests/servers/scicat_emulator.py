"""A SciCat backend emulator (scicat-backend-next, API v3 and v4), run as its own process:
``python -m tests.servers.scicat_emulator --port N [--release 4.12|4.15|4.20|4.27|v3]``.
Written from the backend's sources, release by release:

* ``--release`` picks the release (default the latest, 4.27): its v4 routes and its known
  behaviours (``scicat_emulator_releases``): which resources have v4 routes, which fields a
  PATCH zeroes, how ``sourceFolderHost`` is validated. A route a release lacks answers like
  Express: 404 ``{"message": "Cannot POST /api/v4/origdatablocks", ...}``.
* Routing is case-insensitive (Express); everything is under ``/api/v3`` or ``/api/v4``.
  PIDs contain '/', so a PID in a path must be percent-encoded: an unencoded one does not
  match any route.
* Lists are paged as the backend pages them: ``limits.limit`` defaults to 100, and without
  ``limits.order`` ("field:asc|desc") the order is MongoDB's natural order, which is not
  stable between queries (modelled: it shifts between calls), so unsorted pages may repeat
  or skip documents.
* ``include=`` on ``GET /api/v4/datasets/{pid}`` adds the related documents to the answer
  only. The read routes the official clients use are served too: scitacean's
  ``GET /api/v4/datasets/{pid}?include=…`` and pyscicat's ``GET /api/v3/Datasets/{pid}``,
  ``…/{pid}/origdatablocks``, ``Datasets?filter=``, ``Datasets/fullquery``, ``Proposals/{id}``.
* Every request body is validated against the DTO models of the ``scicat-sdk-py`` package
  (generated from the real backend's OpenAPI), the way the backend's ValidationPipe does
  (``whitelist`` + ``forbidNonWhitelisted``): an unknown property, at any depth, is a 400
  ``{"message": ["property x should not exist"], "error": "Bad Request", "statusCode": 400}``.
  v3 bodies are validated against the obsolete DTOs the SDK carries
  (``CreateRawDatasetObsoleteDto``, ``CreateDatasetOrigDatablockDto``,
  ``CreateAttachmentV3Dto``, ``PartialUpdateRawDatasetObsoleteDto``).
* Auth: ``POST auth/login`` (local accounts), ``auth/ldap`` and ``auth/msad`` (LDAP accounts;
  which of these exist is a control), 201 with ``access_token`` and ``id``; bad credentials
  401 ``{"statusCode":401,"message":"Unauthorized"}``. Tokens are JWTs with ``exp``; they are
  honoured only as ``Authorization: Bearer``. As in the backend's JwtAuthGuard, an expired or
  unknown token makes the request anonymous: writes then answer 403, ``whoami`` an empty body.
* Guards run before validation (anonymous writes are 403 even with a bad body); owner-group
  checks after it (403 "Unauthorized access"). Tokens live ``expires_in`` seconds (3,600 by
  default, the backend's ``JWT_EXPIRES_IN``).

Test-only controls (besides those of ``http_emulator``): ``state``, ``tokens``
(``expire_all``, ``expire_after_calls``, ``expires_in``), ``routes`` (``ldap``: which of
ldap/msad exist), ``seed`` (users, proposals).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import typing
import uuid
from datetime import datetime, timezone

from tests.servers.http_emulator import Emulator, EmulatorProcess, Request, Response, main, route
from tests.servers.scicat_emulator_releases import LATEST, RELEASES, host_errors

PID_PREFIX = "20.500.12345"
SECRET = b"emulator-jwt-secret"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def now_iso(ts: float) -> str:
    d = datetime.fromtimestamp(ts, timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# ------------------------------------------------------------------------------- validation
def _models():
    from scicat_sdk_py.models.create_attachment_v3_dto import CreateAttachmentV3Dto
    from scicat_sdk_py.models.create_attachment_v4_dto import CreateAttachmentV4Dto
    from scicat_sdk_py.models.create_dataset_dto import CreateDatasetDto
    from scicat_sdk_py.models.create_dataset_orig_datablock_dto import CreateDatasetOrigDatablockDto
    from scicat_sdk_py.models.create_derived_dataset_obsolete_dto import \
        CreateDerivedDatasetObsoleteDto
    from scicat_sdk_py.models.create_orig_datablock_dto import CreateOrigDatablockDto
    from scicat_sdk_py.models.create_proposal_dto import CreateProposalDto
    from scicat_sdk_py.models.create_raw_dataset_obsolete_dto import CreateRawDatasetObsoleteDto
    from scicat_sdk_py.models.credentials_dto import CredentialsDto
    from scicat_sdk_py.models.partial_update_dataset_dto import PartialUpdateDatasetDto
    from scicat_sdk_py.models.partial_update_derived_dataset_obsolete_dto import \
        PartialUpdateDerivedDatasetObsoleteDto
    from scicat_sdk_py.models.partial_update_raw_dataset_obsolete_dto import \
        PartialUpdateRawDatasetObsoleteDto
    return {"dataset_v4": CreateDatasetDto, "raw_v3": CreateRawDatasetObsoleteDto,
            "derived_v3": CreateDerivedDatasetObsoleteDto, "block_v4": CreateOrigDatablockDto,
            "block_v3": CreateDatasetOrigDatablockDto, "attachment_v4": CreateAttachmentV4Dto,
            "attachment_v3": CreateAttachmentV3Dto, "patch_v4": PartialUpdateDatasetDto,
            "patch_raw_v3": PartialUpdateRawDatasetObsoleteDto,
            "patch_derived_v3": PartialUpdateDerivedDatasetObsoleteDto,
            "proposal": CreateProposalDto, "credentials": CredentialsDto}


def _nested(annotation):
    """(model class, is a list) for a field annotation holding a pydantic model, else None."""
    from pydantic import BaseModel

    is_list = False
    todo = [annotation]
    while todo:
        a = todo.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a, is_list
        origin = typing.get_origin(a)
        if origin in (list, typing.List):
            is_list = True
        if origin is dict:
            continue
        todo.extend(typing.get_args(a))
    return None


def _message(err: dict) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "missing":
        return f"{loc} should not be null or undefined"
    if kind == "string_type":
        return f"{loc} must be a string"
    if kind == "bool_type":
        return f"{loc} must be a boolean value"
    if kind.startswith("datetime") or kind.startswith("date"):
        return f"{loc} must be a valid ISO 8601 date string"
    if kind == "list_type":
        return f"{loc} must be an array"
    if kind == "too_short":
        return f"{loc} should not be empty"
    if kind in ("int_type", "float_type", "int_from_float"):
        return f"{loc} must be a number conforming to the specified constraints"
    if kind in ("model_type", "dict_type"):
        return f"nested property {loc} must be either object or array"
    return f"{loc} {err['msg']}"


def validate(model, payload, prefix: str = "") -> list[str]:
    """class-validator's whitelist + forbidNonWhitelisted, then the SDK model's own checks."""
    if not isinstance(payload, dict):
        return [f"an instance of {model.__name__} should be an object"] if not prefix else \
            [f"nested property {prefix.rstrip('.')} must be either object or array"]
    errors = []
    fields = model.model_fields
    allowed = {f.alias or n for n, f in fields.items()}
    errors += [f"property {prefix}{k} should not exist" for k in payload if k not in allowed]
    for n, f in fields.items():
        key = f.alias or n
        sub = _nested(f.annotation)
        value = payload.get(key)
        if sub is None or value is None:
            continue
        cls, is_list = sub
        if is_list and isinstance(value, list):
            for i, item in enumerate(value):
                errors += validate(cls, item, f"{prefix}{key}.{i}.")
        elif not is_list:
            errors += validate(cls, value, f"{prefix}{key}.")
    if prefix or errors:
        return errors
    from pydantic import ValidationError

    try:
        model.model_validate(payload)
    except ValidationError as e:
        errors += [_message(err) for err in e.errors()]
    for key in ("contactEmail", "ownerEmail", "email"):
        if key in payload and key in allowed and isinstance(payload[key], str) and \
                not EMAIL.match(payload[key]):
            errors.append(f"{key} must be an email")
    if "sourceFolder" in payload and payload["sourceFolder"] == "":
        errors.append("sourceFolder should not be empty")
    return errors


def bad_request(messages: list[str]) -> Response:
    return Response.json({"message": messages, "error": "Bad Request", "statusCode": 400}, 400)


def forbidden(message: str = "Forbidden resource") -> Response:
    return Response.json({"message": message, "error": "Forbidden", "statusCode": 403}, 403)


def not_found(message: str) -> Response:
    return Response.json({"message": message, "error": "Not Found", "statusCode": 404}, 404)


# ------------------------------------------------------------------------------- filters
def get_path(doc, path: str):
    for part in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def matches(doc: dict, where: dict) -> bool:
    for key, cond in where.items():
        if key == "$or":
            if not any(matches(doc, c) for c in cond):
                return False
            continue
        if key == "$and":
            if not all(matches(doc, c) for c in cond):
                return False
            continue
        value = get_path(doc, key)
        values = value if isinstance(value, list) else [value]
        if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
            for op, arg in cond.items():
                if op == "$in":
                    ok = any(v in arg for v in values)
                elif op == "$nin":
                    ok = not any(v in arg for v in values)
                elif op == "$eq":
                    ok = arg in values
                elif op == "$ne":
                    ok = arg not in values
                elif op == "$exists":
                    ok = (value is not None) == bool(arg)
                elif op == "$regex":
                    flags = re.I if "i" in cond.get("$options", "") else 0
                    ok = any(isinstance(v, str) and re.search(arg, v, flags) for v in values)
                elif op == "$options":
                    ok = True
                else:
                    raise ValueError(f"unsupported operator {op}")
                if not ok:
                    return False
        elif cond not in values:
            return False
    return True


def apply_limits(docs: list, limits: dict, shift: int = 0) -> list:
    """The backend's parseLimitFilters: sorted only by "field:asc|desc", else in natural
    order (here rotated by ``shift``: MongoDB promises no order); limit 100 by default."""
    order = limits.get("order")
    field, _, direction = order.partition(":") if isinstance(order, str) else ("", "", "")
    if direction in ("asc", "desc"):
        docs = sorted(docs, key=lambda d: str(get_path(d, field) or ""),
                      reverse=direction == "desc")
    elif docs:
        k = shift % len(docs)
        docs = docs[k:] + docs[:k]
    skip = int(limits.get("skip", 0) or 0)
    limit = int(limits.get("limit") or 100)
    return docs[skip:skip + limit]


def merge_patch(target: dict, patch: dict) -> dict:
    """RFC 7396."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            merge_patch(target[k], v)
        else:
            target[k] = copy.deepcopy(v)
    return target


# ------------------------------------------------------------------------------- seed
def default_seed() -> dict:
    return {
        "users": {
            "jdoe": {"password": "secret", "email": "jdoe@example.org", "displayName": "John Doe",
                     "groups": ["p1001", "p1002"], "methods": ["ldap"]},
            "other": {"password": "secret2", "email": "other@example.org",
                      "displayName": "Other User", "groups": ["p1003"], "methods": ["ldap"]},
            "ingestor": {"password": "ingest-pw", "email": "ingestor@facility.org",
                         "displayName": "Ingestor", "groups": ["ingestor"],
                         "methods": ["local"], "admin": True},
        },
        "proposals": [
            {"proposalId": "MX-1", "title": "Lysozyme structures", "ownerGroup": "p1001",
             "accessGroups": ["mx-team"], "email": "pi@example.org", "pi_firstname": "Ada",
             "pi_lastname": "Lovelace"},
            {"proposalId": "MX-2", "title": "Insulin crystals", "ownerGroup": "p1002",
             "accessGroups": [], "email": "pi2@example.org"},
            {"proposalId": "MX-3", "title": "Someone else's beamtime", "ownerGroup": "p1003",
             "accessGroups": [], "email": "pi3@example.org"},
        ],
    }


class SciCatEmulator(Emulator):
    case_insensitive = True

    def reset(self) -> None:
        super().reset()
        self.models = _models()
        self.release = RELEASES[getattr(self.args, "release", None) or LATEST]
        self.unsorted_queries = 0  # each one sees another natural order
        self.seed = default_seed()
        self.users = copy.deepcopy(self.seed["users"])
        self.proposals: dict[str, dict] = {}
        for p in self.seed["proposals"]:
            self._add_proposal(p, "admin")
        self.tokens: dict[str, dict] = {}
        self.expires_in = 3600
        self.expire_after_calls: int | None = None
        self.ldap_routes = {"ldap", "msad"}
        self.datasets: dict[str, dict] = {}
        self.blocks: dict[str, dict] = {}
        self.attachments: dict[str, dict] = {}

    def _add_proposal(self, p: dict, by: str) -> None:
        stamp = now_iso(self.now())
        self.proposals[p["proposalId"]] = {
            "accessGroups": [], "isPublished": False, "type": "Default Proposal",
            "createdBy": by, "updatedBy": by, "createdAt": stamp, "updatedAt": stamp,
            "MeasurementPeriodList": [], **copy.deepcopy(p)}

    def not_found(self, req: Request) -> Response:
        return not_found(f"Cannot {req.method} /{'/'.join(req.segments)}")

    def match(self, req: Request):
        fn, params = super().match(req)
        seg = [s.lower() for s in req.segments]
        if fn is not None and len(seg) > 2 and seg[1] == "v4" and \
                seg[2] not in self.release.v4:
            return None, None  # this release has no v4 route for that resource
        return fn, params

    def limited(self, docs: list, limits: dict) -> list:
        order = limits.get("order") if isinstance(limits, dict) else None
        if not (isinstance(order, str) and order.endswith((":asc", ":desc"))):
            self.unsorted_queries += 1
        return apply_limits(docs, limits if isinstance(limits, dict) else {},
                            shift=self.unsorted_queries * 7)

    # -- auth -------------------------------------------------------------------------------
    def _issue(self, username: str) -> dict:
        user = self.users[username]
        iat = int(self.now())
        exp = iat + int(self.expires_in)
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = b64url(json.dumps({"_id": f"u-{username}", "username": username,
                                     "email": user["email"], "iat": iat, "exp": exp}).encode())
        sig = b64url(hmac.new(SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        token = f"{header}.{payload}.{sig}"
        self.tokens[token] = {"user": username, "exp": exp, "calls_left": self.expire_after_calls}
        return {"access_token": token, "id": token, "expires_in": self.expires_in,
                "ttl": self.expires_in, "created": now_iso(self.now()), "userId": f"u-{username}",
                "user": {"id": f"u-{username}", "username": username, "email": user["email"],
                         "emailVerified": True, "realm": "", "authStrategy":
                             "local" if "local" in user["methods"] else "ldap"}}

    def current_user(self, req: Request) -> dict | None:
        """The user of a valid Bearer token; None (anonymous) for none, unknown or expired."""
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        entry = self.tokens.get(auth[7:].strip())
        if entry is None:
            return None
        if entry["calls_left"] is not None:
            if entry["calls_left"] <= 0:
                entry["exp"] = 0
            entry["calls_left"] -= 1
        if entry["exp"] <= self.now():
            return None
        return {"username": entry["user"], **self.users[entry["user"]]}

    def _login(self, req: Request, method: str) -> Response:
        body = req.json() if req.body else {}
        body = body if isinstance(body, dict) else {}
        user = self.users.get(body.get("username", ""))
        if user is None or method not in user["methods"] or user["password"] != body.get("password"):
            return Response.json({"statusCode": 401, "message": "Unauthorized"}, 401)
        errors = validate(self.models["credentials"], body)
        if errors:
            return bad_request(errors)
        return Response.json(self._issue(body["username"]), 201)

    @route("POST", "/api/v3/auth/login")
    def auth_login(self, req: Request) -> Response:
        return self._login(req, "local")

    @route("POST", "/api/v3/auth/{kind}")
    def auth_ldap(self, req: Request) -> Response:
        if req.params["kind"].lower() not in self.ldap_routes:
            return self.not_found(req)
        return self._login(req, "ldap")

    @route("GET", "/api/v3/auth/whoami")
    def whoami(self, req: Request) -> Response:
        user = self.current_user(req)
        if user is None:
            return Response(200, b"")
        return Response.json({"_id": f"u-{user['username']}", "username": user["username"],
                              "email": user["email"], "authStrategy": "ldap"})

    @route("POST", "/api/v3/auth/logout")
    def logout(self, req: Request) -> Response:
        auth = req.headers.get("authorization", "")
        self.tokens.pop(auth[7:].strip(), None)
        return Response.json({}, 201)

    @route("GET", "/api/v3/users/my/identity")
    def identity(self, req: Request) -> Response:
        user = self.current_user(req)
        if user is None:
            return forbidden()
        if "ldap" not in user["methods"]:
            return Response(200, b"")  # functional accounts have no identity
        return Response.json({"authStrategy": "ldap", "externalId": user["username"],
                              "provider": "ldap", "userId": f"u-{user['username']}",
                              "created": now_iso(self.now()), "modified": now_iso(self.now()),
                              "credentials": {},
                              "profile": {"username": user["username"], "email": user["email"],
                                          "displayName": user["displayName"],
                                          "accessGroups": user["groups"]}})

    # -- access -----------------------------------------------------------------------------
    @staticmethod
    def _can_read(user: dict | None, doc: dict) -> bool:
        if doc.get("isPublished"):
            return True
        if user is None:
            return False
        groups = set(user["groups"])
        return bool(user.get("admin") or doc.get("ownerGroup") in groups or
                    groups & set(doc.get("accessGroups") or []))

    @staticmethod
    def _can_write(user: dict, doc: dict) -> bool:
        return bool(user.get("admin") or doc.get("ownerGroup") in user["groups"])

    @staticmethod
    def _filter(req: Request, name: str):
        raw = req.q(name)
        if raw is None:
            return {}, None
        try:
            value = json.loads(raw)
        except ValueError:
            return None, Response(500, b'"Internal server error"')  # the backend's JSON.parse
        return value if isinstance(value, dict) else {}, None

    # -- proposals --------------------------------------------------------------------------
    @route("GET", "/api/v3/proposals")
    def proposals(self, req: Request) -> Response:
        user = self.current_user(req)
        if user is None:
            return forbidden()
        filters, err = self._filter(req, "filters")
        if err:
            return err
        docs = [p for p in self.proposals.values() if self._can_read(user, p)]
        try:
            docs = [p for p in docs if matches(p, filters.get("where") or {})]
        except ValueError as e:
            return bad_request([str(e)])
        return Response.json(self.limited(docs, filters.get("limits") or {}))

    @route("GET", "/api/v3/proposals/{pid}")
    def proposal(self, req: Request) -> Response:
        user = self.current_user(req)
        p = self.proposals.get(req.params["pid"])
        if p is None:
            return not_found(f"proposal: {req.params['pid']} not found")
        if not self._can_read(user, p):
            return forbidden("Unauthorized access")
        return Response.json(p)

    @route("POST", "/api/v3/proposals")
    def create_proposal(self, req: Request) -> Response:
        user = self.current_user(req)
        if user is None or not user.get("admin"):
            return forbidden()
        body = req.json()
        errors = validate(self.models["proposal"], body)
        if errors:
            return bad_request(errors)
        if body["proposalId"] in self.proposals:
            return Response.json({"message": "Proposal already exists", "error": "Conflict",
                                  "statusCode": 409}, 409)
        self._add_proposal(body, user["username"])
        return Response.json(self.proposals[body["proposalId"]], 201)

    # -- datasets ---------------------------------------------------------------------------
    def _stamp(self, doc: dict, username: str, new: bool) -> None:
        stamp = now_iso(self.now())
        if new:
            doc["createdBy"], doc["createdAt"] = username, stamp
        doc["updatedBy"], doc["updatedAt"] = username, stamp

    @staticmethod
    def _from_v3(body: dict) -> dict:
        doc = dict(body)
        for one, many in (("proposalId", "proposalIds"), ("sampleId", "sampleIds"),
                          ("instrumentId", "instrumentIds"),
                          ("principalInvestigator", "principalInvestigators"),
                          ("investigator", "principalInvestigators")):
            if one in doc:
                value = doc.pop(one)
                doc[many] = [value] if value else []
        return doc

    @staticmethod
    def to_v3(doc: dict) -> dict:
        out = dict(doc)
        for many, one in (("proposalIds", "proposalId"), ("sampleIds", "sampleId"),
                          ("instrumentIds", "instrumentId"),
                          ("principalInvestigators", "principalInvestigator")):
            values = out.pop(many, None)
            if values:
                out[one] = values[0]
        return out

    def _out(self, version: str, doc: dict) -> dict:
        """A copy in the version's shape: what is added to an answer never reaches the store."""
        return copy.deepcopy(doc) if version == "v4" else self.to_v3(copy.deepcopy(doc))

    def _host_errors(self, body) -> list[str]:
        if isinstance(body, dict) and "sourceFolderHost" in body:
            return host_errors(self.release, body["sourceFolderHost"])
        return []

    def _create_dataset(self, req: Request, version: str) -> Response:
        user = self.current_user(req)
        if user is None:
            return forbidden()  # PoliciesGuard: anonymous users may not create
        body = req.json()
        if version == "v4":
            model = self.models["dataset_v4"]
        else:
            kind = body.get("type") if isinstance(body, dict) else None
            if kind not in ("raw", "derived"):
                return bad_request(["type must be one of the following values: raw, derived"])
            model = self.models[f"{kind}_v3"]
        errors = validate(model, body) + self._host_errors(body)
        if version == "v4" and isinstance(body, dict) and body.get("type") not in ("raw", "derived"):
            errors.append("type must be one of the following values: raw, derived")
        if errors:
            return bad_request(errors)
        if body.get("pid") and not user.get("admin"):
            return forbidden("Unauthorized access")
        if not self._can_write(user, body):
            return forbidden("Unauthorized access")
        doc = self._from_v3(body) if version == "v3" else dict(body)
        pid = body.get("pid") or f"{PID_PREFIX}/{uuid.uuid4()}"
        if pid in self.datasets:
            return Response.json({"message": f"A dataset with pid {pid} already exists!",
                                  "error": "Conflict", "statusCode": 409}, 409)
        doc = {"accessGroups": [], "keywords": [], "size": 0, "packedSize": 0,
               "numberOfFiles": 0, "numberOfFilesArchived": 0, "isPublished": False,
               "scientificMetadata": {}, "version": "4.0.0", **doc, "pid": pid}
        self._stamp(doc, user["username"], True)
        self.datasets[pid] = doc
        return Response.json(self._out(version, doc), 201)

    @route("POST", "/api/{v}/datasets")
    def create_dataset(self, req: Request) -> Response:
        return self._create_dataset(req, req.params["v"].lower())

    def _readable_dataset(self, req: Request, pid: str):
        doc = self.datasets.get(pid)
        if doc is None:
            return None, not_found(f"dataset: {pid} not found")
        if not self._can_read(self.current_user(req), doc):
            return None, forbidden("Unauthorized access")
        return doc, None

    @route("GET", "/api/{v}/datasets")
    def list_datasets(self, req: Request) -> Response:
        user = self.current_user(req)
        flt, err = self._filter(req, "filter")
        if err:
            return err
        docs = [d for d in self.datasets.values() if self._can_read(user, d)]
        version = req.params["v"].lower()
        where = dict(flt.get("where") or {})
        if version == "v3":  # convertObsoleteWhereFilterToCurrentSchema
            for one, many in (("proposalId", "proposalIds"), ("sampleId", "sampleIds"),
                              ("instrumentId", "instrumentIds")):
                if one in where:
                    where[many] = where.pop(one)
        try:
            docs = [d for d in docs if matches(d, where)]
        except ValueError as e:
            return bad_request([str(e)])
        return Response.json([self._out(version, d) for d in
                              self.limited(docs, flt.get("limits") or {})])

    @route("GET", "/api/v3/datasets/fullquery")
    def fullquery(self, req: Request) -> Response:
        """pyscicat's ``datasets_find``: ``fields`` (``text``, ``mode`` and field values) and
        ``limits``, as the v3 controller's createFullqueryFilter reads them."""
        user = self.current_user(req)
        fields, err = self._filter(req, "fields")
        if err:
            return err
        limits, err = self._filter(req, "limits")
        if err:
            return err
        docs = [d for d in self.datasets.values() if self._can_read(user, d)]
        text = fields.pop("text", None)
        where = dict(fields.pop("mode", None) or {})
        for key, value in fields.items():
            where[key] = {"$in": value} if isinstance(value, list) else value
        if text:
            words = str(text).lower().split()
            docs = [d for d in docs if all(
                any(w in str(d.get(k, "")).lower() for k in ("datasetName", "description"))
                or any(w == str(k).lower() for k in d.get("keywords") or ()) for w in words)]
        try:
            docs = [d for d in docs if matches(d, where)]
        except ValueError as e:
            return bad_request([str(e)])
        return Response.json([self._out("v3", d) for d in self.limited(docs, limits)])

    @route("GET", "/api/{v}/datasets/{pid}")
    def get_dataset(self, req: Request) -> Response:
        doc, err = self._readable_dataset(req, req.params["pid"])
        if err:
            return err
        version = req.params["v"].lower()
        out = self._out(version, doc)
        includes = req.query.get("include", [])
        if includes and version != "v4":
            return bad_request(["property include should not exist"])
        for inc in includes:
            if inc not in ("origdatablocks", "datablocks", "attachments", "proposals",
                           "samples", "instruments"):
                return bad_request([f"include {inc} is not valid"])
            if inc == "origdatablocks":
                out["origdatablocks"] = self._blocks_of(doc["pid"])
            elif inc == "attachments":
                out["attachments"] = self._attachments_of(doc["pid"])
            else:
                out[inc] = []
        return Response.json(out)

    @route("PATCH", "/api/{v}/datasets/{pid}")
    def patch_dataset(self, req: Request) -> Response:
        user = self.current_user(req)
        if user is None:
            return forbidden()
        version = req.params["v"].lower()
        doc = self.datasets.get(req.params["pid"])
        body = req.json()
        if version == "v4":
            model = self.models["patch_v4"]
        else:
            model = self.models["patch_raw_v3" if (doc or {}).get("type", "raw") == "raw"
                                else "patch_derived_v3"]
        errors = validate(model, body) + self._host_errors(body)
        if errors:
            return bad_request(errors)
        if doc is None:
            return not_found(f"dataset: {req.params['pid']} not found")
        if not self._can_write(user, doc):
            return forbidden("Unauthorized access")
        update = self._from_v3(body) if version == "v3" else dict(body)
        # the DTO's initialisers: a field the PATCH does not name becomes 0 (backend #2746)
        zeroed = self.release.zero_on_patch_v4 if version == "v4" else \
            self.release.zero_on_patch_v3
        for name in zeroed:
            update.setdefault(name, 0)
        if req.content_type == "application/merge-patch+json":
            merge_patch(doc, update)
        else:
            doc.update(copy.deepcopy(update))
        self._stamp(doc, user["username"], False)
        return Response.json(self._out(version, doc))

    # -- origdatablocks ---------------------------------------------------------------------
    def _blocks_of(self, pid: str) -> list[dict]:
        return [b for b in self.blocks.values() if b["datasetId"] == pid]

    def _add_block(self, req: Request, body: dict, pid: str) -> Response:
        user = self.current_user(req)
        ds = self.datasets.get(pid)
        if ds is None:
            return not_found(f"dataset: {pid} not found")
        if not self._can_write(user, ds):
            return forbidden("Unauthorized access")
        block = {"_id": str(uuid.uuid4()), "ownerGroup": ds["ownerGroup"],
                 "accessGroups": list(ds.get("accessGroups") or []), "isPublished": False,
                 **{k: v for k, v in body.items() if k != "datasetId"}, "datasetId": pid}
        self._stamp(block, user["username"], True)
        self.blocks[block["_id"]] = block
        blocks = self._blocks_of(pid)  # the dataset's totals follow its blocks
        ds["size"] = sum(b["size"] for b in blocks)
        ds["numberOfFiles"] = sum(len(b["dataFileList"]) for b in blocks)
        return Response.json(block, 201)

    @route("POST", "/api/v4/origdatablocks")
    def create_block_v4(self, req: Request) -> Response:
        if self.current_user(req) is None:
            return forbidden()
        body = req.json()
        errors = validate(self.models["block_v4"], body)
        if errors:
            return bad_request(errors)
        return self._add_block(req, body, body["datasetId"])

    @route("GET", "/api/v4/origdatablocks")
    def list_blocks_v4(self, req: Request) -> Response:
        user = self.current_user(req)
        flt, err = self._filter(req, "filter")
        if err:
            return err
        docs = [b for b in self.blocks.values() if self._can_read(user, b)]
        docs = [b for b in docs if matches(b, flt.get("where") or {})]
        return Response.json(self.limited(docs, flt.get("limits") or {}))

    @route("POST", "/api/v3/datasets/{pid}/origdatablocks")
    def create_block_v3(self, req: Request) -> Response:
        if self.current_user(req) is None:
            return forbidden()
        body = req.json()
        errors = validate(self.models["block_v3"], body)
        if errors:
            return bad_request(errors)
        return self._add_block(req, body, req.params["pid"])

    @route("GET", "/api/v3/datasets/{pid}/origdatablocks")
    def list_blocks_v3(self, req: Request) -> Response:
        doc, err = self._readable_dataset(req, req.params["pid"])
        return err or Response.json(self._blocks_of(doc["pid"]))

    # -- attachments ------------------------------------------------------------------------
    def _attachments_of(self, pid: str) -> list[dict]:
        return [a for a in self.attachments.values()
                if a.get("datasetId") == pid or any(r.get("targetId") == pid
                                                    for r in a.get("relationships") or [])]

    @route("POST", "/api/v4/attachments")
    def create_attachment_v4(self, req: Request) -> Response:
        user = self.current_user(req)
        if user is None:
            return forbidden()
        body = req.json()
        errors = validate(self.models["attachment_v4"], body)
        if errors:
            return bad_request(errors)
        for rel in body.get("relationships") or []:
            ds = self.datasets.get(rel["targetId"]) if rel["targetType"] == "dataset" else None
            if ds is None:
                return not_found(f"{rel['targetType']}: {rel['targetId']} not found")
            if not self._can_write(user, ds):
                return forbidden("Unauthorized access")
        att = {**body, "aid": str(uuid.uuid4())}
        self._stamp(att, user["username"], True)
        self.attachments[att["aid"]] = att
        return Response.json(att, 201)

    @route("POST", "/api/v3/datasets/{pid}/attachments")
    def create_attachment_v3(self, req: Request) -> Response:
        user = self.current_user(req)
        if user is None:
            return forbidden()
        body = req.json()
        errors = validate(self.models["attachment_v3"], body)
        if errors:
            return bad_request(errors)
        ds = self.datasets.get(req.params["pid"])
        if ds is None:
            return not_found(f"dataset: {req.params['pid']} not found")
        if not self._can_write(user, ds):
            return forbidden("Unauthorized access")
        att = {**body, "id": str(uuid.uuid4()), "datasetId": ds["pid"]}
        self._stamp(att, user["username"], True)
        self.attachments[att["id"]] = att
        return Response.json(att, 201)

    @route("GET", "/api/v3/datasets/{pid}/attachments")
    def list_attachments_v3(self, req: Request) -> Response:
        doc, err = self._readable_dataset(req, req.params["pid"])
        return err or Response.json(self._attachments_of(doc["pid"]))

    # -- test controls ----------------------------------------------------------------------
    def dispatch(self, req: Request) -> Response:
        resp = super().dispatch(req)
        if "access_token" in req.query:  # must never be used: the token leaks into logs
            with self.lock:
                self.calls[-1]["access_token_in_url"] = True
        return resp

    def control_state(self, body: dict) -> dict:
        return {"datasets": list(self.datasets.values()),
                "origdatablocks": list(self.blocks.values()),
                "attachments": list(self.attachments.values()),
                "proposals": list(self.proposals.values())}

    def control_tokens(self, body: dict) -> dict:
        if "expires_in" in body:
            self.expires_in = int(body["expires_in"])
        if "expire_after_calls" in body:
            self.expire_after_calls = body["expire_after_calls"]
            for t in self.tokens.values():
                t["calls_left"] = body["expire_after_calls"]
        if body.get("expire_all"):
            for t in self.tokens.values():
                t["exp"] = 0
        return {"tokens": len(self.tokens)}

    def control_routes(self, body: dict) -> dict:
        self.ldap_routes = set(body.get("ldap", self.ldap_routes))
        return {"ldap": sorted(self.ldap_routes)}

    def control_seed(self, body: dict) -> dict:
        self.users.update(copy.deepcopy(body.get("users", {})))
        for p in body.get("proposals", []):
            self._add_proposal(p, "admin")
        return {"ok": True}


class SciCatServer(EmulatorProcess):
    """The SciCat emulator as a process; ``state()`` for assertions."""

    def __init__(self, workdir, release: str = LATEST):
        super().__init__("tests.servers.scicat_emulator", workdir, ("--release", release))
        self.release = release

    def state(self) -> dict:
        return self.control("state")

    def catalogue_ini(self, name: str = "scicat", version: str = "v4", extra: str = "") -> str:
        auth = "" if "auth =" in extra else "auth = ldap,local\n"
        return (f"[catalogue:{name}]\ntype = scicat\nurl = {self.url}\napi_version = {version}\n"
                f"{auth}creation_location = /TESTFAC/BL1\n{extra}")


if __name__ == "__main__":
    main(SciCatEmulator, extra_args=lambda p: p.add_argument(
        "--release", default=LATEST, choices=sorted(RELEASES)))
