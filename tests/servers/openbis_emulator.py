"""An openBIS application server (V3 JSON-RPC) and data store server, as strict as the real
ones, for tests: ``python -m tests.servers.openbis_emulator --port P``.

* AS: ``POST /openbis/openbis/rmi-application-server-v3.json``; DSS:
  ``POST /datastore_server/rmi-data-store-server-v3.json`` and the upload servlet
  ``POST /datastore_server/session_workspace_file_upload``.
* JSON-RPC 2.0 with the session token (or a personal access token) as the first parameter.
  Errors come as the server's error resolver writes them: **HTTP 200** with
  ``{"error": {"code": 0, "message", "data": {"exceptionTypeName", "message",
  "stackTrace"}}}``; a login with bad credentials answers ``"result": null``; an unknown
  method -32601 with HTTP 404 (jsonrpc4j).
* DTOs with ``@type``, ``@id`` back-references and fetch options (``openbis_model``).
* Sessions expire after ``--session-timeout`` minutes of the emulator's clock without a call;
  a PAT is valid between its dates.
* What the tests rely on: rights by role (``openbis_model``), createExternalDataManagementSystems
  and the DSS's createDataSets for instance admins only, data set codes unique, dataset types'
  mandatory properties and value types checked, content copies checked against their external
  DMS's address type, the session workspace per session.

Controls (``/__control/``): ``state`` (datasets, files, EDMS, workspace sizes), ``lose``
(process a method's next call and lose its answer), ``expire``
(end every session, or one user's), ``pat`` (issue a PAT: ``{"user", "days"}``), ``seed``
(add collections, objects, types, EDMS), plus the common ones of ``http_emulator``.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import secrets
import threading
import uuid

import pytest

from tests.servers.http_emulator import Emulator, EmulatorProcess, Response, main, route
from tests.servers.openbis_model import (READ_ROLES, WRITE_ROLES, Out, RpcError, denied,
                                         denied_role, not_found, search_result, seed_state,
                                         space_of)

AS_PATH = "/openbis/openbis/rmi-application-server-v3.json"
DSS_PATH = "/datastore_server/rmi-data-store-server-v3.json"
UPLOAD_PATH = "/datastore_server/session_workspace_file_upload"


class OpenBISEmulator(Emulator):
    def reset(self) -> None:
        super().reset()
        self.state = seed_state(f"http://127.0.0.1:{self.args.port}")
        self.sessions: dict[str, dict] = {}  # token → {"user", "touched", "pat"}
        self.pats: dict[str, dict] = {}  # token → {"user", "from", "to", "name"}
        self.workspace: dict[str, dict[str, bytearray]] = {}  # session → path → bytes
        self.counter = 0
        self.lose: dict[str, int] = {}  # method → answers still to lose
        self.lost: list[str] = []

    # -- JSON-RPC ---------------------------------------------------------------------------
    @route("POST", AS_PATH)
    def application_server(self, req):
        return self._rpc(req, "as")

    @route("POST", DSS_PATH)
    def data_store_server(self, req):
        return self._rpc(req, "dss")

    def _rpc(self, req, api: str) -> Response:
        try:
            call = json.loads(req.body.decode("utf-8"))
        except ValueError:
            return Response.json({"jsonrpc": "2.0", "id": None, "error": {
                "code": -32700, "message": "JSON parse error"}}, 500)
        rid = call.get("id")
        method = call.get("method", "")
        fn = getattr(self, f"{api}_{method}", None)
        if fn is None:
            return Response.json({"jsonrpc": "2.0", "id": rid, "error": {
                "code": -32601, "message": "method not found"}}, 404)
        try:
            result = fn(*call.get("params", []))
        except RpcError as e:
            return Response.json({"jsonrpc": "2.0", "id": rid, "error": {
                "code": 0, "message": e.message, "data": {
                    "exceptionTypeName": e.java, "message": e.message,
                    "stackTrace": f"{e.java}: {e.message}\n\tat ch.systemsx.cisd.openbis.emulated"
                }}})
        except TypeError as e:
            return Response.json({"jsonrpc": "2.0", "id": rid, "error": {
                "code": -32602, "message": f"method parameters invalid: {e}"}})
        resp = Response.json({"jsonrpc": "2.0", "id": rid, "result": result})
        if self.lose.get(method):  # processed, and the answer lost on its way back
            self.lose[method] -= 1
            self.lost.append(method)
            resp.lose = True
        return resp

    # -- sessions ---------------------------------------------------------------------------
    def _timeout(self) -> float:
        return float(self.args.session_timeout) * 60

    def user_of(self, token: str) -> str:
        """The user of a live session or PAT (touching it), or InvalidSessionException."""
        now = self.now()
        if not token:
            raise RpcError("Session token cannot be null",
                           "ch.systemsx.cisd.common.exceptions.InvalidSessionException")
        pat = self.pats.get(token)
        if pat is not None and pat["from"] <= now * 1000 <= pat["to"]:
            return pat["user"]
        s = self.sessions.get(token)
        if s is None or now - s["touched"] > self._timeout():
            self.sessions.pop(token, None)
            raise RpcError(f"Session token '{token}' is invalid: user is not logged in.",
                           "ch.systemsx.cisd.common.exceptions.InvalidSessionException")
        s["touched"] = now
        return s["user"]

    def as_login(self, user, password):
        u = self.state["users"].get(user)
        if u is None or u["password"] != password:
            return None  # openBIS answers null, not an error
        token = f"{user}-{secrets.token_hex(16).upper()}"
        self.sessions[token] = {"user": user, "touched": self.now()}
        return token

    def as_logout(self, token):
        self.sessions.pop(token, None)
        return None

    def as_isSessionActive(self, token):
        try:
            self.user_of(token)
            return True
        except RpcError:
            return False

    def as_getSessionInformation(self, token):
        user = self.user_of(token)
        pat = self.pats.get(token)
        out = Out(self.state)
        fo = {"@type": "as.dto.person.fetchoptions.PersonFetchOptions"}
        return {"@type": "as.dto.session.SessionInformation", "@id": 0,
                "sessionToken": token, "userName": user, "homeGroupCode": None,
                "personalAccessTokenSession": pat is not None,
                "personalAccessTokenSessionName": pat["name"] if pat else None,
                "person": out.person(user, fo), "creatorPerson": out.person(user, fo)}

    def as_getServerInformation(self, token):
        self.user_of(token)
        return {"api-version": "3.6", "archiving-configured": "false",
                "enabled-technologies": "eln-lims", "project-samples-enabled": "true",
                "openbis-version": "20.10.7", "personal-access-tokens-enabled": "true",
                "personal-access-tokens-max-validity-period": "2592000",
                "server-public-information.afs-server.url": None}

    def as_createPersonalAccessTokens(self, token, creations):
        user = self.user_of(token)
        out = []
        for c in creations:
            pat = f"$pat-{user}-{secrets.token_hex(16)}"
            self.pats[pat] = {"user": user, "from": c["validFromDate"], "to": c["validToDate"],
                              "name": c.get("sessionName") or "pat"}
            out.append({"@type": "as.dto.pat.id.PersonalAccessTokenPermId", "permId": pat})
        return out

    # -- rights -----------------------------------------------------------------------------
    def roles(self, user: str, space: str) -> set[str]:
        out = set()
        for role, sp in self.state["users"][user]["roles"]:
            if sp is None or sp == space:
                out.add(role)
        return out

    def admin(self, user: str) -> bool:
        return "INSTANCE_ADMIN" in self.roles(user, "")

    def can_read(self, user: str, space: str) -> bool:
        return self.admin(user) or bool(self.roles(user, space) & set(READ_ROLES))

    def can_write(self, user: str, space: str) -> bool:
        return self.admin(user) or bool(self.roles(user, space) & set(WRITE_ROLES))

    def as_getRights(self, token, ids, fetch_options):
        user = self.user_of(token)
        out = {}
        for i in ids:
            ident = i.get("identifier") or i.get("permId")
            exists = ident in self.state["experiments"] or ident in self.state["samples"] or \
                ident in self.state["projects"]
            if not exists or not self.can_read(user, space_of(ident)):
                rights = ["CREATE"] if self.can_write(user, space_of(ident)) else []
            else:
                rights = ["UPDATE", "DELETE"] if self.can_write(user, space_of(ident)) else []
            out[ident] = {"@type": "as.dto.rights.Rights", "rights": rights}
        return out

    # -- search -----------------------------------------------------------------------------
    def views(self, kind: str, user: str) -> list[dict]:
        """What ``user`` may see of one kind of entity, as views criteria are matched on."""
        s = self.state
        if kind == "space":
            return [{"code": c, "permId": c, "identifier": "/" + c, "key": c}
                    for c in s["spaces"] if self.can_read(user, c)]
        if kind == "project":
            return [{"code": p.split("/")[-1], "permId": p, "identifier": p, "key": p,
                     "space": {"code": space_of(p)}}
                    for p in s["projects"] if self.can_read(user, space_of(p))]
        if kind == "experiment":
            return [{"code": e.split("/")[-1], "permId": e, "identifier": e, "key": e,
                     "type": {"code": t}, "project": {
                         "code": e.split("/")[2], "identifier": e.rsplit("/", 1)[0],
                         "space": {"code": space_of(e)}}}
                    for e, t in s["experiments"].items() if self.can_read(user, space_of(e))]
        if kind == "sample":
            return [{"code": x.split("/")[-1], "permId": x, "identifier": x, "key": x,
                     "type": {"code": t}, "space": {"code": space_of(x)},
                     "experiment": {"code": exp.split("/")[-1], "identifier": exp,
                                    "permId": exp} if exp else None}
                    for x, (t, exp) in s["samples"].items() if self.can_read(user, space_of(x))]
        if kind == "dataset":
            out = []
            for code, ds in s["datasets"].items():
                where = ds["experiment"] or ds["sample"]
                if not self.can_read(user, space_of(where)):
                    continue
                out.append({"code": code, "permId": code, "key": code,
                            "type": {"code": ds["type"]}, "properties": ds["properties"],
                            "experiment": {"code": ds["experiment"].split("/")[-1],
                                           "identifier": ds["experiment"],
                                           "permId": ds["experiment"]}
                            if ds["experiment"] else None,
                            "sample": {"code": ds["sample"].split("/")[-1],
                                       "identifier": ds["sample"], "permId": ds["sample"]}
                            if ds["sample"] else None})
            return out
        if kind == "datasettype":
            return [{"code": c, "permId": c, "key": c} for c in s["dataset_types"]]
        if kind == "edms":
            return [{"code": c, "permId": c, "key": c} for c in s["edms"]]
        raise AssertionError(kind)

    def search(self, kind: str, token: str, criteria: dict, fo: dict, build) -> dict:
        user = self.user_of(token)
        rows = [v for v in self.views(kind, user) if matches(v, criteria)]
        rows.sort(key=lambda v: v["key"])
        start = (fo or {}).get("from") or 0
        count = (fo or {}).get("count")
        page = rows[start:start + count] if count is not None else rows[start:]
        out = Out(self.state)
        result = search_result([build(out, v["key"], fo) for v in page])
        result["totalCount"] = len(rows)
        return result

    def as_searchSpaces(self, token, criteria, fo):
        return self.search("space", token, criteria, fo, lambda o, k, f: o.space(k, f))

    def as_searchProjects(self, token, criteria, fo):
        return self.search("project", token, criteria, fo, lambda o, k, f: o.project(k, f))

    def as_searchExperiments(self, token, criteria, fo):
        return self.search("experiment", token, criteria, fo, lambda o, k, f: o.experiment(k, f))

    def as_searchSamples(self, token, criteria, fo):
        return self.search("sample", token, criteria, fo, lambda o, k, f: o.sample(k, f))

    def as_searchDataSets(self, token, criteria, fo):
        return self.search("dataset", token, criteria, fo, lambda o, k, f: o.dataset(k, f))

    def as_searchDataSetTypes(self, token, criteria, fo):
        return self.search("datasettype", token, criteria, fo,
                           lambda o, k, f: o.entity_type("dataset", k, f))

    def as_searchExternalDataManagementSystems(self, token, criteria, fo):
        return self.search("edms", token, criteria, fo, lambda o, k, f: o.edms(k, f))

    def as_searchDataStores(self, token, criteria, fo):
        self.user_of(token)
        return search_result([Out(self.state).datastore(fo or {"@type": "x"})])

    def _get(self, kind: str, token: str, ids: list, fo: dict, build) -> dict:
        user = self.user_of(token)
        visible = {v["key"] for v in self.views(kind, user)}
        out, result = Out(self.state), {}
        for i in ids:
            key = i.get("permId") or i.get("identifier") or i.get("code")
            if kind in ("dataset", "edms") and key:
                key = key.upper()
            if key in visible:
                result[key] = build(out, key, fo)
        return result

    def as_getDataSets(self, token, ids, fo):
        return self._get("dataset", token, ids, fo, lambda o, k, f: o.dataset(k, f))

    def as_getExperiments(self, token, ids, fo):
        return self._get("experiment", token, ids, fo, lambda o, k, f: o.experiment(k, f))

    def as_getSamples(self, token, ids, fo):
        return self._get("sample", token, ids, fo, lambda o, k, f: o.sample(k, f))

    def as_getDataSetTypes(self, token, ids, fo):
        return self._get("datasettype", token, ids, fo,
                         lambda o, k, f: o.entity_type("dataset", k, f))

    def as_getExternalDataManagementSystems(self, token, ids, fo):
        return self._get("edms", token, ids, fo, lambda o, k, f: o.edms(k, f))

    # -- external DMS -----------------------------------------------------------------------
    def as_createExternalDataManagementSystems(self, token, creations):
        user = self.user_of(token)
        if not self.admin(user):
            raise denied_role("INSTANCE_ADMIN", user)
        out = []
        for c in creations:
            code, typ, address = c.get("code"), c.get("addressType"), c.get("address")
            if not code:
                raise RpcError("Code is required")
            if not typ:
                raise RpcError("Type is required")
            if not address:
                raise RpcError("Address is required")
            if typ == "FILE_SYSTEM" and not fnmatch.fnmatchcase(address, "*:*") or \
                    typ == "FILE_SYSTEM" and address.count(":") != 1:
                raise RpcError(f"Invalid address: {address}")
            if code in self.state["edms"]:
                raise RpcError("External data management system already exists in the "
                               "database and needs to be unique.")
            self.state["edms"][code] = {"label": c.get("label"), "address": address,
                                        "addressType": typ}
            out.append({"@type": "as.dto.externaldms.id.ExternalDmsPermId", "permId": code})
        return out

    # -- data sets --------------------------------------------------------------------------
    def as_createDataSets(self, token, creations):
        user = self.user_of(token)
        staged = copy.deepcopy(self.state["datasets"])  # all or nothing, as one transaction
        codes = [self._create_dataset(user, c, staged) for c in creations]
        self.state["datasets"] = staged
        return [{"@type": "as.dto.dataset.id.DataSetPermId", "permId": c} for c in codes]

    def _create_dataset(self, user: str, c: dict, staged: dict, kind: str | None = None,
                        size: int | None = None) -> str:
        s = self.state
        type_id = c.get("typeId")
        if not type_id:
            raise RpcError("Type id cannot be null.")
        typ = type_id.get("permId")
        if typ not in s["dataset_types"]:
            raise not_found("EntityTypePermId", f"{typ} (DATA_SET)")
        code, auto = c.get("code"), c.get("autoGeneratedCode", False)
        if not code and not auto:
            raise RpcError("Code cannot be empty for a non auto generated code.")
        if code and auto:
            raise RpcError("Code should be empty when auto generated code is selected.")
        if auto:
            self.counter += 1
            code = f"20260301120000{self.counter:03d}-{1000 + self.counter}"
        code = code.upper()
        exp = (c.get("experimentId") or {}).get("identifier") or \
            (c.get("experimentId") or {}).get("permId")
        smp = (c.get("sampleId") or {}).get("identifier") or (c.get("sampleId") or {}).get("permId")
        if not exp and not smp:
            raise RpcError("Experiment id and sample id cannot be both null.")
        if exp and exp not in s["experiments"]:
            raise not_found("ExperimentIdentifier", exp)
        if smp and smp not in s["samples"]:
            raise not_found("SampleIdentifier", smp)
        if smp:
            sample_exp = s["samples"][smp][1]
            if exp and sample_exp != exp:
                raise RpcError(f"Data set can not be registered because it is connected to "
                               f"experiment '{exp}' but sample '{smp}' belongs to experiment "
                               f"'{sample_exp}'.")
            exp = exp or sample_exp
        for where in (exp, smp):
            if where and not self.can_read(user, space_of(where)):
                raise not_found("ExperimentIdentifier" if where == exp else "SampleIdentifier",
                                where)
            if where and not self.can_write(user, space_of(where)):
                raise denied(user)
        if not c.get("dataStoreId"):
            raise RpcError("Data store id cannot be null.")
        if c["dataStoreId"].get("permId") != s["datastore"]["code"]:
            raise not_found("DataStorePermId", c["dataStoreId"].get("permId"))
        properties = self._check_properties(typ, c.get("properties") or {})
        linked = c.get("linkedData")
        kind = kind or c.get("dataSetKind") or ("LINK" if linked else "PHYSICAL")
        copies = []
        if kind == "LINK":
            if linked is None:
                raise RpcError("Linked data cannot be null for a link data set.")
            copies = self._content_copies(linked.get("contentCopies"))
        elif linked is not None:
            raise RpcError("Linked data cannot be set for a non-link data set.")
        if code in staged:
            raise RpcError("DataSet already exists in the database and needs to be unique.",
                           "ch.systemsx.cisd.common.exceptions.UserFailureException")
        staged[code] = {"code": code, "type": typ, "kind": kind, "experiment": exp,
                        "sample": smp, "properties": properties,
                        "measured": bool(c.get("measured")), "contentCopies": copies,
                        "registrator": user, "registered": int(self.now() * 1000),
                        "metaData": c.get("metaData") or {}, "size": size}
        return code

    def _check_properties(self, typ: str, given: dict) -> dict:
        assignments = {a["code"]: a for a in self.state["dataset_types"][typ]["assignments"]}
        out = {}
        for code, value in given.items():
            code = code.upper()
            if code not in assignments:
                raise RpcError(f"Property type with code '{code}' is not assigned to data set "
                               f"type '{typ}'.")
            if value in (None, ""):
                continue
            data_type = self.state["property_types"][code]["dataType"]
            check = {"REAL": float, "INTEGER": int}.get(data_type)
            try:
                if check is not None:
                    check(value)
                elif data_type == "BOOLEAN" and str(value).lower() not in ("true", "false"):
                    raise ValueError
            except ValueError:
                label = {"REAL": "Double", "INTEGER": "Integer", "BOOLEAN": "Boolean"}[data_type]
                raise RpcError(f"{label} value '{value}' has improper format.") from None
            out[code] = str(value)
        for code, a in assignments.items():
            if a["mandatory"] and code not in out:
                raise RpcError(f"Value of mandatory property '{code}' not specified.")
        return out

    def _content_copies(self, copies) -> list[dict]:
        if copies is None:
            raise RpcError("External code can not be null.")  # the legacy form, unsupported
        out = []
        for cc in copies:
            edms_id = (cc.get("externalDmsId") or {}).get("permId")
            if not edms_id:
                raise RpcError("External data management system id cannot be null")
            edms = self.state["edms"].get(edms_id)
            if edms is None:
                raise not_found("ExternalDmsPermId", edms_id)
            ext, path = cc.get("externalId"), cc.get("path")
            git = cc.get("gitCommitHash"), cc.get("gitRepositoryId")
            typ = edms["addressType"]
            if typ in ("URL", "OPENBIS") and ext is not None and path is None and git == (None,
                                                                                         None):
                entry = {"externalCode": ext}
            elif typ == "FILE_SYSTEM" and ext is None and path is not None and (
                    git == (None, None) or None not in git):
                entry = {"path": path if path.startswith("/") else "/" + path,
                         "gitCommitHash": git[0], "gitRepositoryId": git[1]}
            else:
                raise RpcError(f"Invalid arguments: external data management system type: "
                               f"{typ}, externalId: {ext} , path: {path}, gitCommitHash: "
                               f"{git[0]}, gitRepositoryId: {git[1]}")
            entry.update({"externalDms": edms_id, "id": str(uuid.uuid4())})
            out.append(entry)
        return out

    # -- the data store server --------------------------------------------------------------
    def dss_createDataSets(self, token, creations):
        user = self.user_of(token)
        if not self.admin(user):
            raise denied_role("INSTANCE_ADMIN", user)
        files: dict[str, list] = {}
        metadata = []
        for i, full in enumerate(creations):
            m = dict(full["metadataCreation"])
            ds_id = (m.get("dataStoreId") or {}).get("permId")
            if ds_id and ds_id != self.state["datastore"]["code"]:
                raise RpcError(f"Data store id specified for creation object with index {i} is "
                               f"'{ds_id}' instead of '{self.state['datastore']['code']}' or "
                               "undefined.")
            m["dataStoreId"] = {"@type": "as.dto.datastore.id.DataStorePermId",
                                "permId": self.state["datastore"]["code"]}
            if not m.get("autoGeneratedCode") and not (m.get("code") or "").strip():
                raise RpcError("Neither code nor auto generating code specified in creation "
                               f"object with index {i}")
            if m.get("autoGeneratedCode"):
                self.counter += 1
                m["code"] = f"20260301130000{self.counter:03d}-{2000 + self.counter}"
                m["autoGeneratedCode"] = False
            m["code"] = m["code"].upper()
            files[m["code"]] = path_info(full.get("fileMetadata") or [])
            metadata.append(m)
        result = self.as_createDataSets(token, metadata)
        self.state["files"].update(files)
        return result

    def dss_createUploadedDataSet(self, token, creation):
        user = self.user_of(token)
        upload_id = creation.get("uploadId")
        space = self.workspace.get(token, {})
        prefix = f"{upload_id}/"
        found = {p[len(prefix):]: b for p, b in space.items() if p.startswith(prefix)}
        if not upload_id or not found:
            raise RpcError(f"The upload id '{upload_id}' has no files in the session workspace.")
        m = {k: creation.get(k) for k in ("typeId", "experimentId", "sampleId", "properties")}
        m.update({"autoGeneratedCode": True, "measured": True, "dataStoreId": {
            "@type": "as.dto.datastore.id.DataStorePermId",
            "permId": self.state["datastore"]["code"]}})
        staged = copy.deepcopy(self.state["datasets"])
        code = self._create_dataset(user, m, staged, kind="PHYSICAL",
                                    size=sum(len(b) for b in found.values()))
        self.state["datasets"] = staged
        self.state["files"][code] = path_info([
            {"path": p, "fileLength": len(b), "checksumCRC32": crc32_signed(bytes(b)),
             "directory": False} for p, b in sorted(found.items())])
        for p in list(space):
            if p.startswith(prefix):
                del space[p]
        return {"@type": "as.dto.dataset.id.DataSetPermId", "permId": code}

    def dss_searchFiles(self, token, criteria, fo):
        user = self.user_of(token)
        codes = dataset_codes(criteria)
        visible = {v["key"] for v in self.views("dataset", user)}
        objects = []
        for code in codes:
            if code not in visible:
                continue
            for f in self.state["files"].get(code, []):
                objects.append({
                    "@type": "dss.dto.datasetfile.DataSetFile", "@id": len(objects) + 1,
                    "permId": {"@type": "dss.dto.datasetfile.id.DataSetFilePermId",
                               "dataSetId": {"@type": "as.dto.dataset.id.DataSetPermId",
                                             "permId": code}, "filePath": f["path"]},
                    "dataSetPermId": {"@type": "as.dto.dataset.id.DataSetPermId",
                                      "permId": code},
                    "dataStore": None, "path": f["path"], "directory": f["directory"],
                    "fileLength": f["fileLength"], "checksumCRC32": f["checksumCRC32"],
                    "checksum": f["checksum"], "checksumType": f["checksumType"]})
        return {"@type": "dss.dto.common.search.SearchResult", "objects": objects,
                "totalCount": len(objects)}

    @route("POST", UPLOAD_PATH)
    def upload(self, req) -> Response:
        for name in ("sessionID", "id", "startByte", "endByte", "filename"):
            if req.q(name) is None:
                return Response.text(f"{name} parameter cannot be null", 500)
        token = req.q("sessionID")
        try:
            self.user_of(token)
        except RpcError as e:
            return Response(500, f'<message type="error">{e.message}</message>'.encode(),
                            "text/xml")
        name = req.q("filename")
        if "../" in name or name.startswith("/"):
            return Response.text("filePath must not contain '../'", 500)
        space = self.workspace.setdefault(token, {})
        if req.q("emptyFolder", "false").lower() == "true":
            return Response.json({"id": int(req.q("id")), "startByte": int(req.q("startByte")),
                                  "endByte": int(req.q("endByte")), "filename": name,
                                  "emptyFolder": True, "size": -1, "status": "ok"})
        start = int(req.q("startByte"))
        data = space.setdefault(name, bytearray())
        if len(data) < start:
            data.extend(b"\0" * (start - len(data)))
        data[start:start + len(req.body)] = req.body
        return Response(200, json.dumps({
            "id": int(req.q("id")), "startByte": start, "endByte": int(req.q("endByte")),
            "filename": name, "emptyFolder": False, "size": len(req.body),
            "status": "ok"}).encode(), "text/json")

    # -- controls ---------------------------------------------------------------------------
    def control_state(self, body) -> dict:
        return {"datasets": self.state["datasets"], "files": self.state["files"],
                "edms": self.state["edms"],
                "workspace": {t: {p: len(b) for p, b in ws.items()}
                              for t, ws in self.workspace.items()}}

    def control_lose(self, body) -> dict:
        """``{"method", "count"}``: process the next calls of that method, then drop the
        connection without answering; with no body, the methods whose answers were lost."""
        if body.get("method"):
            self.lose[body["method"]] = int(body.get("count", 1))
        return {"lost": self.lost}

    def control_expire(self, body) -> dict:
        user = body.get("user")
        gone = [t for t, s in self.sessions.items() if user in (None, s["user"])]
        for t in gone:
            del self.sessions[t]
        return {"expired": len(gone)}

    def control_pat(self, body) -> dict:
        pat = f"$pat-{body['user']}-{secrets.token_hex(16)}"
        now = self.now() * 1000
        self.pats[pat] = {"user": body["user"], "from": now - 1000,
                          "to": now + float(body.get("days", 30)) * 86400_000,
                          "name": body.get("name", "datauploader")}
        return {"token": pat}

    def control_seed(self, body) -> dict:
        s = self.state
        for ident, typ in body.get("experiments", {}).items():
            s["experiments"][ident] = typ
        for ident, (typ, exp) in body.get("samples", {}).items():
            s["samples"][ident] = (typ, exp)
        for code, e in body.get("edms", {}).items():
            s["edms"][code] = e
        for code, t in body.get("dataset_types", {}).items():
            s["dataset_types"][code] = t
        for code, p in body.get("property_types", {}).items():
            s["property_types"][code] = p
        for user, u in body.get("users", {}).items():
            s["users"][user] = {**u, "roles": [tuple(r) for r in u["roles"]]}
        return {"ok": True}


def path_info(files: list[dict]) -> list[dict]:
    """The DSS's path-info rows, checked as its PathInfoFeeder checks them."""
    seen, out = set(), []
    for f in files:
        path = f.get("path")
        if not path:
            raise RpcError(f"Path of {f} was null")
        if path.startswith("/"):
            raise RpcError(f"Path '{path}' is absolute")
        if f.get("checksum") is not None and f.get("checksumType") is None:
            raise RpcError(f"Checksum with out type specified: {f['checksum']}")
        if not f.get("directory") and f.get("fileLength") is None:
            raise RpcError(f"Size of '{path}' is null")
        if path in seen:
            raise RpcError(f"Path '{path}' appears twice")
        seen.add(path)
        out.append({"path": path, "directory": bool(f.get("directory")),
                    "fileLength": f.get("fileLength"), "checksumCRC32": f.get("checksumCRC32"),
                    "checksum": f.get("checksum"), "checksumType": f.get("checksumType")})
    return out


def crc32_signed(data: bytes) -> int:
    import zlib

    v = zlib.crc32(data)
    return v - (1 << 32) if v >= 1 << 31 else v


def dataset_codes(criteria: dict) -> list[str]:
    """The data set codes a DataSetFileSearchCriteria names (pybis's and ours)."""
    out = []
    for c in criteria.get("criteria", []):
        if c.get("@type", "").endswith("DataSetSearchCriteria"):
            out += dataset_codes(c)
        elif c.get("@type", "").endswith(("PermIdSearchCriteria", "CodeSearchCriteria")):
            out.append(str(c["fieldValue"]["value"]).upper())
        elif c.get("@type", "").endswith("IdSearchCriteria"):
            out.append(str(c["id"]["permId"]).upper())
    return out


# -- criteria -------------------------------------------------------------------------------
_NESTED = {"SpaceSearchCriteria": "space", "ProjectSearchCriteria": "project",
           "ExperimentSearchCriteria": "experiment", "SampleSearchCriteria": "sample",
           "EntityTypeSearchCriteria": "type", "ExperimentTypeSearchCriteria": "type",
           "SampleTypeSearchCriteria": "type", "DataSetTypeSearchCriteria": "type"}


def _value_matches(field, fv: dict) -> bool:
    kind = fv.get("@type", "").rsplit(".", 1)[-1]
    if kind == "AnyStringValue":
        return True
    want, have = str(fv.get("value")), "" if field is None else str(field)
    if kind == "StringEqualToValue":
        return have.upper() == want.upper()
    if kind == "StringStartsWithValue":
        return have.upper().startswith(want.upper())
    if kind == "StringEndsWithValue":
        return have.upper().endswith(want.upper())
    if kind == "StringContainsValue":
        return want.upper() in have.upper()
    raise RpcError(f"Unsupported field value {kind}")


def matches(view: dict | None, crit: dict, top: bool = True) -> bool:
    """Whether an entity's view meets a search criteria object (the subset clients use)."""
    if view is None:
        return False
    kind = crit.get("@type", "").rsplit(".", 1)[-1]
    subs = crit.get("criteria") or []
    if isinstance(subs, dict):  # pybis nests one criteria object without a list
        subs = [subs]
    if kind in _NESTED and not top:
        target = view.get(_NESTED[kind])
        return matches(target, crit, top=True) if target is not None else False
    if kind in _NESTED or kind.endswith("SearchCriteria") and "criteria" in crit:
        results = [matches(view, s, top=False) for s in subs]
        if not results:
            return True
        return any(results) if crit.get("operator", "AND") == "OR" else all(results)
    if kind in ("CodeSearchCriteria", "CodesSearchCriteria"):
        if kind == "CodesSearchCriteria":
            return view["code"].upper() in [v.upper() for v in crit.get("fieldValue") or []]
        return _value_matches(view.get("code"), crit["fieldValue"])
    if kind == "PermIdSearchCriteria":
        return _value_matches(view.get("permId"), crit["fieldValue"])
    if kind == "IdentifierSearchCriteria":
        return _value_matches(view.get("identifier"), crit["fieldValue"])
    if kind == "IdSearchCriteria":
        i = crit.get("id") or {}
        want = i.get("permId") or i.get("identifier") or ""
        return want.upper() in (str(view.get("permId")).upper(),
                                str(view.get("identifier")).upper())
    if kind in ("StringPropertySearchCriteria", "AnyPropertySearchCriteria"):
        props = view.get("properties") or {}
        name = (crit.get("fieldName") or "").upper()
        values = props.values() if kind.startswith("Any") else [props.get(name)]
        return any(v is not None and _value_matches(v, crit["fieldValue"]) for v in values)
    raise RpcError(f"Unsupported search criteria {kind}")


@pytest.fixture
def openbis_server(tmp_path):
    """A fresh emulator per test (tests register, expire sessions and issue PATs)."""
    with EmulatorProcess("tests.servers.openbis_emulator", tmp_path / "openbis") as srv:
        yield srv


def _args(parser) -> None:
    parser.add_argument("--session-timeout", type=float, default=30.0,
                        help="minutes without a call before a session ends")


if __name__ == "__main__":
    threading.stack_size(1 << 22)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(OpenBISEmulator, extra_args=_args)
