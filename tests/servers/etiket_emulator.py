"""An etiket (QHarbor) server emulator, run as its own process:
``python -m tests.servers.etiket_emulator --port N [--part-size BYTES] [--no-collections]
[--oidc-issuer URL]``. Written from the documented protocol (docs/catalogue-protocols.md):

* ``/api/v3``: the token endpoint (password and refresh_token grants; refresh tokens are
  single-use: a spent one is ``invalid_grant``), ``token/revoke``, ``token/userinfo``, and
  ``scopes`` (a non-admin sees only the scopes they belong to). An access token lives
  ``expires_in`` seconds (a control); API tokens are seeded. With ``--oidc-issuer`` an access
  token of that OpenID provider is taken too, when its userinfo endpoint knows it and the
  request carries the ID token in ``X-ID-Token``.
* ``/api/v2``: datasets (``POST /dataset/``, read by uuid or alt_uid, ``PATCH``), files
  (register → ``announced``; an upload link → ``pending``; ``validate_upload`` checks the
  stored object's MD5 → ``secured``), single-part and multipart links (the server's part
  size, one URL per part), reads by name and by uuid/version.
* ``/api/v1/collections`` (older servers; ``--no-collections`` leaves them out, answered like
  FastAPI: 404 ``{"detail": "Not Found"}``).
* ``/store/…``: the object store behind the pre-signed URLs, with signed, expiring URLs (an
  expired one is 403 ``AccessDenied`` "Request has expired", as S3 answers), ``Content-Length``
  required, an ETag that is the MD5 of what it stored.

Every body is validated against ``etiket_models`` (unknown fields refused: 422 with FastAPI's
``detail`` list); statuses are enforced (no link for a secured file, no validation without
the bytes); errors are ``{"error": "<name>", "detail": "…"}``.

Test-only controls (besides those of ``http_emulator``): ``state``, ``tokens``
(``expires_in``, ``expire_all``), ``links`` (``ttl``, ``expire_next``), ``store``
(``corrupt``: names whose stored bytes get one byte changed; ``no_etag``: answer single
PUTs without an ETag, as a store that states none), ``seed``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid as uuidlib
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

from pydantic import ValidationError

from tests.servers import etiket_models as M
from tests.servers.http_emulator import Emulator, EmulatorProcess, Request, Response, main, route

KEY = b"etiket-emulator-store-key"
USERS = {"alice": {"password": "alice-password", "admin": False},
         "bob": {"password": "bob-password", "admin": False},
         "root": {"password": "root-password", "admin": True}}
API_TOKENS = {"api-token-of-alice-0123456789": "alice"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def err(status: int, name: str, detail: str) -> Response:
    return Response.json({"error": name, "detail": detail}, status)


class EtiketEmulator(Emulator):
    def reset(self) -> None:
        super().reset()
        now = self.now()
        self.expires_in = 3600.0
        self.link_ttl = 600.0
        self.expire_next = 0
        self.corrupt: set[str] = set()
        self.no_etag = False
        self.access: dict[str, dict] = {}  # token → {sub, expires}
        self.refresh: dict[str, dict] = {}  # token → {sub, used}
        self.sso_subs: dict[str, str] = {}  # IdP access token → sub (checked once)
        self.scopes = {}
        for name, members, archived in (("qlab-cooldown-7", {"alice", "bob"}, False),
                                        ("bobs-own-scope", {"bob"}, False),
                                        ("old-fridge-run", {"alice"}, True)):
            u = str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, name))
            self.scopes[u] = {"uuid": u, "name": name, "description": f"the {name} data",
                              "is_restricted": True, "is_archived": archived,
                              "created": iso(now), "modified": iso(now), "members": members}
        self.datasets: dict[str, dict] = {}
        self.files: dict[tuple[str, int], dict] = {}
        self.objects: dict[str, bytes] = {}
        self.uploads: dict[str, dict] = {}  # upload id → {object, parts: {n: bytes}}
        self.collections: dict[tuple[str, str], dict] = {}

    def not_found(self, req: Request) -> Response:
        return Response.json({"detail": "Not Found"}, 404)

    # -- auth -------------------------------------------------------------------------------
    def _issue(self, sub: str) -> dict:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
        self.access[access] = {"sub": sub, "expires": self.now() + self.expires_in}
        self.refresh[refresh] = {"sub": sub, "used": False}
        return {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
                "expires_in": int(self.expires_in)}

    @route("POST", "/api/v3/token")
    def token(self, req: Request) -> Response:
        if req.content_type != "application/x-www-form-urlencoded":
            return err(400, "invalid_request", "the token endpoint takes a form")
        form = req.form()
        grant = form.get("grant_type")
        if grant == "password":
            user = USERS.get(form.get("username", ""))
            if user is None or user["password"] != form.get("password"):
                return err(400, "invalid_grant", "Incorrect username or password")
            return Response.json(self._issue(form["username"]))
        if grant == "refresh_token":
            rt = self.refresh.get(form.get("refresh_token", ""))
            if rt is None or rt["used"]:
                return err(400, "invalid_grant", "The refresh token is invalid or was used")
            rt["used"] = True
            return Response.json(self._issue(rt["sub"]))
        return err(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")

    @route("POST", "/api/v3/token/revoke")
    def revoke(self, req: Request) -> Response:
        token = req.form().get("token", "")
        if token in self.refresh:
            self.refresh[token]["used"] = True
        self.access.pop(token, None)
        return Response.json({})

    def _sso_sub(self, token: str, req: Request) -> str | None:
        issuer = getattr(self.args, "oidc_issuer", "")
        if not issuer or not req.headers.get("x-id-token"):
            return None
        if token not in self.sso_subs:
            import requests

            conf = requests.get(issuer.rstrip("/") + "/.well-known/openid-configuration",
                                timeout=10).json()
            r = requests.get(conf["userinfo_endpoint"], timeout=10,
                             headers={"Authorization": f"Bearer {token}"})
            if r.status_code != 200:
                return None
            self.sso_subs[token] = r.json()["sub"]
        return self.sso_subs[token]

    def user(self, req: Request) -> str | Response:
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return err(401, "token_invalid", "Not authenticated")
        token = auth[7:]
        if token in API_TOKENS:
            return API_TOKENS[token]
        got = self.access.get(token)
        if got is not None:
            if got["expires"] <= self.now():
                return err(401, "token_invalid", "The access token has expired")
            return got["sub"]
        sub = self._sso_sub(token, req)
        return sub if sub else err(401, "token_invalid", "Could not validate the credentials")

    @route("GET", "/api/v3/token/userinfo")
    def userinfo(self, req: Request) -> Response:
        sub = self.user(req)
        return sub if isinstance(sub, Response) else Response.json({"sub": sub})

    # -- scopes -----------------------------------------------------------------------------
    def _visible(self, sub: str) -> list[dict]:
        admin = USERS.get(sub, {}).get("admin")
        return [s for s in self.scopes.values() if admin or sub in s["members"]]

    @staticmethod
    def _scope_out(s: dict) -> dict:
        return {k: v for k, v in s.items() if k != "members"}

    @route("GET", "/api/v3/scopes")
    def scope_list(self, req: Request) -> Response:
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        name = req.q("name") or ""
        return Response.json([self._scope_out(s) for s in self._visible(sub)
                              if name.lower() in s["name"].lower()])

    def _writable_scope(self, sub: str, scope_uuid: str) -> dict | Response:
        s = self.scopes.get(scope_uuid)
        if s is None:
            return err(404, "scope_not_found", f"Scope {scope_uuid} not found")
        if sub not in s["members"] and not USERS.get(sub, {}).get("admin"):
            return err(403, "scope_access_denied", f"You are not a member of scope {s['name']}")
        return s

    # -- datasets ---------------------------------------------------------------------------
    @staticmethod
    def _body(req: Request, model):
        if req.content_type != "application/json":
            return Response.json({"detail": [{"loc": ["body"], "msg": "JSON expected",
                                              "type": "json_invalid"}]}, 422)
        try:
            return model.model_validate(req.json() or {})
        except (ValidationError, ValueError) as e:
            detail = M.problems(e) if isinstance(e, ValidationError) else str(e)
            return Response.json({"detail": detail}, 422)

    @route("POST", "/api/v2/dataset")
    def dataset_create(self, req: Request) -> Response:
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        body = self._body(req, M.DatasetCreate)
        if isinstance(body, Response):
            return body
        scope = self._writable_scope(sub, str(body.scope_uuid))
        if isinstance(scope, Response):
            return scope
        u = str(body.uuid)
        if u in self.datasets:
            return err(409, "dataset_already_exists", f"A dataset with uuid {u} exists")
        if body.alt_uid and any(d["alt_uid"] == body.alt_uid and d["scope_uuid"] == scope["uuid"]
                                for d in self.datasets.values()):
            return err(409, "dataset_alt_uid_in_use", f"alt_uid {body.alt_uid} is in use")
        now = iso(self.now())
        doc = json.loads(body.model_dump_json())
        doc.update(created=now, modified=now)
        self.datasets[u] = doc
        return Response(201)

    def _dataset_out(self, d: dict) -> dict:
        out = {k: v for k, v in d.items() if k != "scope_uuid"}
        out["scope"] = self._scope_out(self.scopes[d["scope_uuid"]])
        out["files"] = [self._file_out(f) for f in self.files.values()
                        if f["ds_uuid"] == d["uuid"]]
        return out

    def _readable(self, req: Request, d: dict | None, sub) -> Response | None:
        if d is None:
            return err(404, "dataset_not_found", "Dataset not found")
        if sub not in self.scopes[d["scope_uuid"]]["members"] and \
                not USERS.get(sub, {}).get("admin"):
            return err(403, "scope_access_denied", "You are not a member of its scope")
        return None

    @route("GET", "/api/v2/dataset")
    def dataset_read(self, req: Request) -> Response:
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        d = self.datasets.get(req.q("dataset_uuid", ""))
        if d is not None and req.q("scope_uuid") and d["scope_uuid"] != req.q("scope_uuid"):
            d = None
        return self._readable(req, d, sub) or Response.json(self._dataset_out(d))

    @route("GET", "/api/v2/dataset/by_alt_uid")
    def dataset_by_alt_uid(self, req: Request) -> Response:
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        d = next((d for d in self.datasets.values() if d["alt_uid"] == req.q("dataset_alt_uid")
                  and d["scope_uuid"] == req.q("scope_uuid")), None)
        return self._readable(req, d, sub) or Response.json(self._dataset_out(d))

    @route("PATCH", "/api/v2/dataset")
    def dataset_update(self, req: Request) -> Response:
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        d = self.datasets.get(req.q("dataset_uuid", ""))
        refused = self._readable(req, d, sub)
        if refused:
            return refused
        body = self._body(req, M.DatasetUpdate)
        if isinstance(body, Response):
            return body
        for k, v in body.model_dump(exclude_none=True).items():
            d[k] = v
        d["modified"] = iso(self.now())
        return Response(200, b"")

    # -- files ------------------------------------------------------------------------------
    def _sign(self, obj: str, expires: int, extra: str = "") -> str:
        return hmac.new(KEY, f"{obj}|{expires}|{extra}".encode(), hashlib.sha256).hexdigest()

    def _ttl(self) -> float:
        """The life of the links of one answer (``expire_next``: answers already expired)."""
        if self.expire_next > 0:
            self.expire_next -= 1
            return -1.0
        return self.link_ttl

    def _link(self, req: Request, obj: str, upload_id: str = "", part: int = 0,
              ttl: float | None = None) -> str:
        ttl = self.link_ttl if ttl is None else ttl
        expires = int(self.now() + ttl)
        extra = f"{upload_id}:{part}" if upload_id else ""
        q = {"X-Expires": expires, "X-Signature": self._sign(obj, expires, extra)}
        if upload_id:
            q.update(uploadId=upload_id, partNumber=part)
        host = req.headers.get("host", "127.0.0.1")
        return f"http://{host}/store/{quote(obj, safe='')}?{urlencode(q)}"

    def _file_out(self, f: dict) -> dict:
        out = {k: v for k, v in f.items() if k not in ("object", "ds_uuid", "upload_id")}
        return out

    def _file(self, req: Request, sub, uuid: str, version: str) -> dict | Response:
        try:
            f = self.files.get((uuid, int(version)))
        except (TypeError, ValueError):
            return Response.json({"detail": [{"loc": ["query", "version_id"],
                                              "msg": "not an integer", "type": "int"}]}, 422)
        if f is None:
            return err(404, "file_not_found", "File not found")
        refused = self._readable(req, self.datasets.get(f["ds_uuid"]), sub)
        return refused or f

    @route("POST", "/api/v2/file")
    def file_create(self, req: Request) -> Response:
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        body = self._body(req, M.FileCreate)
        if isinstance(body, Response):
            return body
        d = self.datasets.get(str(body.ds_uuid))
        refused = self._readable(req, d, sub)
        if refused:
            return refused
        key = (str(body.uuid), body.version_id)
        if key in self.files:
            return err(409, "file_version_exists", "This version of the file exists")
        now = iso(self.now())
        f = json.loads(body.model_dump_json())
        f.update(created=now, modified=now, md5_checksum=None, etag=None, status="announced",
                 S3_link=None, S3_validity=None, object=f"{key[0]}/{key[1]}", upload_id=None)
        self.files[key] = f
        return Response(201)

    def _by_name(self, req: Request) -> Response:
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        d = self.datasets.get(req.q("dataset_uuid", ""))
        refused = self._readable(req, d, sub)
        return refused or Response.json([self._file_out(f) for f in self.files.values()
                                         if f["ds_uuid"] == d["uuid"]
                                         and f["name"] == req.q("name")])

    file_by_name = route("GET", "/api/v2/file/by_name")(_by_name)

    @route("GET", "/api/v2/file/read")
    def file_read(self, req: Request) -> Response:
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        f = self._file(req, sub, req.q("uuid", ""), req.q("version_id", ""))
        if isinstance(f, Response):
            return f
        out = self._file_out(f)
        if f["status"] == "secured":
            out["S3_link"], out["S3_validity"] = self._link(req, f["object"]), self.link_ttl
        return Response.json([out])

    def _uploadable(self, req: Request):
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        f = self._file(req, sub, req.q("file_uuid", ""), req.q("version_id", ""))
        if isinstance(f, Response):
            return f
        if f["status"] == "secured":
            return err(400, "file_already_secured", "The file is secured and immutable")
        return f

    @route("GET", "/api/v2/file/presigned_link/single_part")
    def link_single(self, req: Request) -> Response:
        f = self._uploadable(req)
        if isinstance(f, Response):
            return f
        f["status"] = "pending"
        return Response.json({"uuid": f["uuid"], "version_id": f["version_id"],
                              "url": self._link(req, f["object"], ttl=self._ttl())})

    @route("GET", "/api/v2/file/presigned_link")
    def link_multi(self, req: Request) -> Response:
        f = self._uploadable(req)
        if isinstance(f, Response):
            return f
        f["status"] = "pending"
        if f["upload_id"] not in self.uploads:
            f["upload_id"] = secrets.token_hex(8)
            self.uploads[f["upload_id"]] = {"object": f["object"], "parts": {}}
        part_size = self.args.part_size
        count = max(1, -(-f["size"] // part_size))
        ttl = self._ttl()
        return Response.json({"uuid": f["uuid"], "version_id": f["version_id"],
                              "upload_id": f["upload_id"], "part_size": part_size,
                              "presigned_urls": [self._link(req, f["object"], f["upload_id"], n, ttl)
                                                 for n in range(1, count + 1)]})

    def _validate(self, req: Request, multipart: bool) -> Response:
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        body = self._body(req, M.FileValidate)
        if isinstance(body, Response):
            return body
        f = self._file(req, sub, str(body.uuid), str(body.version_id))
        if isinstance(f, Response):
            return f
        if f["status"] != "pending":
            return err(400, "file_not_pending", f"The file is {f['status']}, not pending")
        if multipart:
            up = self.uploads.get(body.upload_id)
            if up is None or body.upload_id != f["upload_id"]:
                return err(400, "upload_not_found", "No such multipart upload")
            parts = [up["parts"].get(n) for n in range(1, len(body.etags) + 1)]
            tags = [f'"{hashlib.md5(p).hexdigest()}"' if p is not None else None for p in parts]
            if None in parts or len(up["parts"]) != len(body.etags) or \
                    [t.strip('"') for t in body.etags] != [t.strip('"') for t in tags]:
                return err(400, "upload_etags_mismatch", "The ETags are not those of the parts")
            self.objects[f["object"]] = b"".join(parts)
        data = self.objects.get(f["object"])
        if data is None:
            return err(400, "upload_not_found", "Nothing was uploaded for this file")
        if len(data) != f["size"]:
            return err(400, "upload_size_mismatch", f"{len(data)} bytes stored, {f['size']} "
                       "announced")
        if hashlib.md5(data).hexdigest() != body.md5_checksum:
            return err(400, "upload_checksum_mismatch", "The MD5 of the stored object is not "
                       "the one given")
        f.update(status="secured", md5_checksum=body.md5_checksum,
                 etag=hashlib.md5(data).hexdigest(), modified=iso(self.now()))
        if multipart:
            self.uploads.pop(body.upload_id, None)
        return Response(202, b"")

    @route("POST", "/api/v2/file/validate_upload/single_part")
    def validate_single(self, req: Request) -> Response:
        return self._validate(req, False)

    @route("POST", "/api/v2/file/validate_upload")
    def validate_multi(self, req: Request) -> Response:
        return self._validate(req, True)

    # -- the object store -------------------------------------------------------------------
    def _signed(self, req: Request) -> str | Response:
        obj = req.params["obj"]
        try:
            expires = int(req.q("X-Expires", ""))
        except ValueError:
            expires = -1
        upload, part = req.q("uploadId", ""), req.q("partNumber", "")
        extra = f"{upload}:{part}" if upload else ""
        if not hmac.compare_digest(self._sign(obj, expires, extra), req.q("X-Signature", "")):
            return Response(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>",
                            "application/xml")
        if expires < self.now():
            return Response(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired"
                                 b"</Message></Error>", "application/xml")
        return obj

    @route("PUT", "/store/{obj}")
    def store_put(self, req: Request) -> Response:
        obj = self._signed(req)
        if isinstance(obj, Response):
            return obj
        if "content-length" not in req.headers:
            return Response(411, b"<Error><Code>MissingContentLength</Code></Error>",
                            "application/xml")
        data = req.body
        f = next((f for f in self.files.values() if f["object"] == obj), None)
        if f is not None and f["name"] in self.corrupt and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]  # a store that damaged it
        upload = req.q("uploadId")
        headers = {} if self.no_etag and not upload else \
            {"ETag": f'"{hashlib.md5(data).hexdigest()}"'}
        if upload:
            up = self.uploads.get(upload)
            if up is None or up["object"] != obj:
                return Response(404, b"<Error><Code>NoSuchUpload</Code></Error>",
                                "application/xml")
            up["parts"][int(req.q("partNumber"))] = data
        else:
            self.objects[obj] = data
        return Response(200, b"", "application/xml", headers)

    @route("GET", "/store/{obj}")
    def store_get(self, req: Request) -> Response:
        obj = self._signed(req)
        if isinstance(obj, Response):
            return obj
        if obj not in self.objects:
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        return Response(200, self.objects[obj], "application/octet-stream")

    # -- collections (older servers) --------------------------------------------------------
    def _collections_offered(self) -> bool:
        return not self.args.no_collections

    @route("GET", "/api/v1/collections/{scope}/{name}")
    def collection_read(self, req: Request) -> Response:
        if not self._collections_offered():
            return self.not_found(req)
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        c = self.collections.get((req.params["scope"], req.params["name"]))
        if c is None:
            return err(404, "collection_not_found", "Collection not found")
        return Response.json({**c, "datasets": sorted(c["datasets"])})

    @route("POST", "/api/v1/collections")
    def collection_create(self, req: Request) -> Response:
        if not self._collections_offered():
            return self.not_found(req)
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        body = self._body(req, M.CollectionIn)
        if isinstance(body, Response):
            return body
        scope = next((s for s in self._visible(sub) if s["name"] == body.scope), None)
        if scope is None:
            return err(404, "scope_not_found", f"Scope {body.scope} not found")
        key = (body.scope, body.name)
        if key in self.collections:
            return err(409, "collection_already_exists", "The collection exists")
        self.collections[key] = {"name": body.name, "scope": body.scope,
                                 "description": body.description or "", "datasets": set()}
        return Response.json({"name": body.name, "scope": body.scope}, 201)

    @route("PUT", "/api/v1/collections/{scope}/{name}/datasets/{uid}")
    def collection_add(self, req: Request) -> Response:
        if not self._collections_offered():
            return self.not_found(req)
        sub = self.user(req)
        if isinstance(sub, Response):
            return sub
        c = self.collections.get((req.params["scope"], req.params["name"]))
        if c is None:
            return err(404, "collection_not_found", "Collection not found")
        if req.params["uid"] not in self.datasets:
            return err(404, "dataset_not_found", "Dataset not found")
        c["datasets"].add(req.params["uid"])
        return Response.json({"name": c["name"], "scope": c["scope"]})

    # -- controls ---------------------------------------------------------------------------
    def control_state(self, body: dict) -> dict:
        return {"datasets": [self._dataset_out(d) for d in self.datasets.values()],
                "collections": [{**c, "datasets": sorted(c["datasets"])}
                                for c in self.collections.values()],
                "objects": {k: hashlib.md5(v).hexdigest() for k, v in self.objects.items()},
                "refresh_tokens": {k: v["used"] for k, v in self.refresh.items()},
                "scopes": {s["name"]: s["uuid"] for s in self.scopes.values()}}

    def control_tokens(self, body: dict) -> dict:
        if "expires_in" in body:
            self.expires_in = float(body["expires_in"])
        if body.get("expire_all"):
            for t in self.access.values():
                t["expires"] = 0
        return {"access": len(self.access)}

    def control_links(self, body: dict) -> dict:
        self.link_ttl = float(body.get("ttl", self.link_ttl))
        self.expire_next = int(body.get("expire_next", self.expire_next))
        return {"ttl": self.link_ttl, "expire_next": self.expire_next}

    def control_store(self, body: dict) -> dict:
        self.corrupt = set(body.get("corrupt", self.corrupt))
        self.no_etag = bool(body.get("no_etag", self.no_etag))
        return {"corrupt": sorted(self.corrupt), "no_etag": self.no_etag}

    def control_object(self, body: dict) -> dict:
        """The stored bytes of a file version, hex (for read-back checks)."""
        f = self.files.get((body["uuid"], int(body["version_id"])))
        data = self.objects.get(f["object"]) if f else None
        return {"hex": data.hex() if data is not None else None}


class EtiketServer(EmulatorProcess):
    """The etiket emulator as a process; ``state()`` for assertions."""

    def __init__(self, workdir, part_size: int = 1 << 20, collections: bool = True,
                 oidc_issuer: str = ""):
        args = ["--part-size", str(part_size)]
        if not collections:
            args.append("--no-collections")
        if oidc_issuer:
            args += ["--oidc-issuer", oidc_issuer]
        super().__init__("tests.servers.etiket_emulator", workdir, tuple(args))

    def state(self) -> dict:
        return self.control("state")

    def stored(self, file_uuid: str, version_id: int) -> bytes | None:
        got = self.control("object", uuid=file_uuid, version_id=version_id)["hex"]
        return bytes.fromhex(got) if got is not None else None

    def catalogue_ini(self, name: str = "etiket", extra: str = "") -> str:
        auth = "" if "auth =" in extra else "auth = password\n"
        return f"[catalogue:{name}]\ntype = etiket\nurl = {self.url}\n{auth}{extra}"


def _args(parser) -> None:
    parser.add_argument("--part-size", type=int, default=1 << 20)
    parser.add_argument("--no-collections", action="store_true")
    parser.add_argument("--oidc-issuer", default="")


if __name__ == "__main__":
    main(EtiketEmulator, extra_args=_args)
