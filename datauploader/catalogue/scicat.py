"""SciCat (scicat-backend-next): proposals, raw datasets, origdatablocks, thumbnails. SciCat
stores no bytes: they go to the configured storage, and the dataset's ``sourceFolder`` is where
they landed.

* **Releases.** With ``api_version = v4`` (the default) each resource uses its v4 route where the
  server has one and its v3 route where it does not (backend 4.12–4.19 have v4 datasets but
  not v4 origdatablocks; before 4.12 there is no v4 at all); ``api_version = v3`` never calls
  v4. ``scicat_session`` finds out once per session.
* **Login**: ``auth/login`` for local (functional) accounts, ``auth/ldap`` for LDAP/AD accounts
  with the legacy ``auth/msad`` as fallback, or a token. The token goes in the
  ``Authorization: Bearer`` header only, never in a URL. A password login is renewed before
  the token expires; a token login ends with the token (``login_ends``), which a 403 with an
  anonymous ``whoami`` also reveals (the backend treats an expired token as no token at all).
* **Datafiles**: one origdatablock per batch (split at ``max_files_per_block``), with ``chkAlg``;
  the dataset's blocks are listed once so that a retried or resumed batch registers nothing
  twice.
* **Complete**: a partial update zeroes the dataset's ``size``, ``packedSize`` and
  ``numberOfFiles`` when it does not name them (backend issues #2746 and #1688, up to 4.27 at
  least), so the update that marks it complete carries their true values (from the dataset's
  origdatablocks) and is read back and checked.
* **Thumbnail**: an attachment made from the image named by the ``thumbnail`` metadata key, or
  else from the first image among the files.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from urllib.parse import quote

from datauploader.catalogue import scicat_payloads as P
from datauploader.catalogue.base import (Catalogue, CredentialField, DatafileRecord, DatafileSpec,
                                         DatasetRecord, DatasetSpec, Investigation)
from datauploader.catalogue.scicat_session import V4_SINCE, SciCatSession, jwt_expiry
from datauploader.errors import (AuthError, CatalogueError, ConfigError, PermissionDeniedError,
                                 TransientError, UserFacingError)
from datauploader.net.webclient import HTTP_OPTIONS, WebClient, json_or_none, tls_verify, where
from datauploader.options import Option

log = logging.getLogger(__name__)

METHODS = ("ldap", "local", "token")
PAGE = 1000
__all__ = ["SciCatCatalogue", "jwt_expiry", "pid_path"]


def pid_path(pid: str) -> str:
    return quote(pid, safe="")  # PIDs contain '/'


class SciCatCatalogue(Catalogue):
    kind = "scicat"
    OPTIONS = (
        Option("url", "address of the SciCat backend (its API is under /api)", required=True),
        Option("api_version", "v4: the v4 routes where the server has them (v3 where not); "
               "v3: only the v3 routes", default="v4", choices=("v4", "v3")),
        Option("auth", "how users log in: ldap, local (functional accounts), both as "
               "'ldap,local' (chosen at login), or token", default="ldap,local"),
        Option("owner_group", "ownerGroup of created datasets (default: the proposal's)",
               default=""),
        Option("access_groups", "accessGroups of created datasets, comma-separated (default: the "
               "proposal's)", default=""),
        Option("contact_email", "contact email of created datasets (default: the user's)",
               default=""),
        Option("principal_investigator", "principal investigator of created datasets (default: "
               "the proposal's, else the user)", default=""),
        Option("creation_location", "where the data was taken, e.g. /Site/Facility/Beamline "
               "(default: /<this computer's name>)", default=""),
        Option("source_folder_host", "host name (with its domain) of the storage holding "
               "sourceFolder, e.g. s3.example.org", default=""),
        Option("create_proposals", "let users create proposals from DataUploader (needs the "
               "server's PROPOSAL_GROUPS)", default=False, type=bool),
        Option("thumbnail", "attach a thumbnail: the image named by the 'thumbnail' metadata, "
               "else the first image among the files", default=True, type=bool),
        Option("max_files_per_block", "datafiles per origdatablock", default=1000, type=int),
        *HTTP_OPTIONS,
    )

    def __init__(self, url: str, api_version: str = "v4", auth: str = "ldap,local",
                 owner_group: str = "", access_groups: str = "", contact_email: str = "",
                 principal_investigator: str = "", creation_location: str = "",
                 source_folder_host: str = "", create_proposals: bool = False,
                 thumbnail: bool = True, max_files_per_block: int = 1000, ca_bundle: str = "",
                 verify_tls: bool = True, timeout: float = 120.0, clock=time.time):
        base = url.rstrip("/")
        for tail in ("/api/v3", "/api/v4", "/api"):
            if base.endswith(tail):
                base = base[:-len(tail)]
        self.url = base
        self.version = api_version
        self.methods = [m.strip() for m in auth.split(",") if m.strip()]
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods or ("token" in self.methods and len(self.methods) > 1):
            raise ConfigError(f"'auth' must be ldap, local, 'ldap,local' or token, not '{auth}'.",
                              key="auth")
        self.owner_group = owner_group
        self.access_groups = [g.strip() for g in access_groups.split(",") if g.strip()]
        self.contact_email = contact_email
        self.pi = principal_investigator
        self.creation_location = creation_location or f"/{socket.gethostname()}"
        try:
            self.source_folder_host = P.folder_host(source_folder_host)
        except ValueError as e:
            raise ConfigError(str(e), key="source_folder_host") from None
        self.can_create_investigations = bool(create_proposals)
        self.thumbnail = thumbnail
        self.max_files_per_block = max(1, int(max_files_per_block))
        self.clock = clock
        self.web = WebClient(self.url, verify=tls_verify(verify_tls, ca_bundle),
                             timeout=(10.0, timeout), what="SciCat")
        self.session = SciCatSession(self.url, self.web, clock, v4=api_version == "v4")
        self._lock = threading.RLock()  # caches; never held across a call
        self._reg_lock = threading.Lock()  # one registration at a time per catalogue
        self.user: dict = {}
        self._groups: set[str] | None = None
        self._proposals: dict[str, dict] = {}
        self._datasets: dict[str, dict] = {}  # pid → dataset as the server returned it
        self._known: dict[str, dict[str, tuple]] = {}  # pid → path → (id, size, chk, alg)
        self._totals: dict[str, tuple[int, int]] = {}  # pid → (size, files) of its blocks
        self._thumbnailed: set[str] = set()

    # -- identity and login -----------------------------------------------------------------
    def describe(self) -> str:
        return f"SciCat at {where(self.url)}"

    def credential_fields(self) -> list[CredentialField]:
        if self.methods == ["token"]:
            return [CredentialField("token", "Token", secret=True)]
        fields = []
        if len(self.methods) > 1:
            fields.append(CredentialField("method", "Account", required=False,
                                          choices=tuple(self.methods), default=self.methods[0]))
        return fields + [CredentialField("username", "Username"),
                         CredentialField("password", "Password", secret=True)]

    def login(self, credentials: dict[str, str]) -> str:
        if self.methods == ["token"]:
            token = credentials.get("token", "")
            if not token:
                raise AuthError(f"Logging in to {self.describe()} needs your token.")
            self.session.forget()
            self.session.set_token(token)
            me = self.session.whoami()
            if not me:
                self.session.forget()
                raise AuthError(f"{self.describe()} did not accept the token; it may have "
                                "expired. Get a new one from the SciCat portal.")
            self.user = me
        else:
            method = credentials.get("method") or self.methods[0]
            if method not in self.methods:
                raise AuthError(f"{self.describe()} takes {' or '.join(self.methods)} accounts, "
                                f"not '{method}'.")
            body = {"username": credentials.get("username", ""),
                    "password": credentials.get("password", "")}
            if not body["username"] or not body["password"]:
                raise AuthError(f"Logging in to {self.describe()} needs your user name and "
                                "password.")
            answer = self.session.password_login(method, body)
            self.user = answer.get("user") or {}
        groups = self._identity_groups()
        with self._lock:
            self._groups = groups
            self._known.clear()
            self._proposals.clear()
        return self.user.get("username") or credentials.get("username", "token")

    def login_ends(self) -> float | None:
        return self.session.login_ends()

    def _identity_groups(self) -> set[str] | None:
        """The user's groups when SciCat says (LDAP/OIDC identities); None when it does not."""
        try:
            resp = self.web.request("GET", "/api/v3/users/my/identity",
                                    secrets=(self.session.token,))
        except TransientError:
            return None
        body = json_or_none(resp) if resp.status_code == 200 else None
        groups = ((body or {}).get("profile") or {}).get("accessGroups") if isinstance(body, dict) else None
        return set(groups) if groups else None

    def logout(self) -> None:
        token = self.session.forget()
        if token and self.methods != ["token"]:  # a pre-issued token is not ours to end
            try:
                self.web.request("POST", "/api/v3/auth/logout", secrets=(token,),
                                 headers={"Authorization": f"Bearer {token}"})
            except Exception:  # noqa: BLE001 - logging out never blocks
                log.info("SciCat logout failed", exc_info=True)

    def describe_server(self) -> list[str]:
        offers = self.session.offers()
        lines = []
        for resource, since in V4_SINCE.items():
            if self.version == "v3":
                lines.append(f"{resource}: v3 routes (api_version = v3)")
            elif offers[resource]:
                lines.append(f"{resource}: v4 routes")
            else:
                lines.append(f"{resource}: v3 routes (no v4 {resource} routes: a backend "
                             f"before {since})")
        return lines

    # -- calls ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, action: str, **kw):
        return self.session.call(method, path, action, **kw)

    def _json(self, *a, **kw):
        return self.session.json(*a, **kw)

    # -- proposals --------------------------------------------------------------------------
    def _proposal_list(self, where_: dict) -> list[dict]:
        """Every matching proposal, page by page, sorted by proposalId (unique): without a sort
        the backend pages in MongoDB's natural order, which may repeat or skip documents."""
        out: list[dict] = []
        seen: set[str] = set()
        while True:
            page = self._json("GET", "/api/v3/proposals", "list your proposals", params={
                "filters": json.dumps({"where": where_, "limits": {
                    "limit": PAGE, "skip": len(out), "order": "proposalId:asc"}})}) or []
            out.extend(p for p in page if p["proposalId"] not in seen)
            seen.update(p["proposalId"] for p in page)
            if len(page) < PAGE:
                break
        with self._lock:
            for p in out:
                self._proposals[p["proposalId"]] = p
        return out

    def investigations(self, search: str | None = None) -> list[Investigation]:
        rows = self._proposal_list({})
        if self._groups:  # write access follows ownerGroup; keep what the user may write to
            rows = [p for p in rows if p.get("ownerGroup") in self._groups]
        if search:
            s = search.lower()
            rows = [p for p in rows if s in p["proposalId"].lower() or s in p.get("title", "").lower()]
        return [Investigation(p["proposalId"], p["proposalId"], p.get("title", ""))
                for p in sorted(rows, key=lambda p: p["proposalId"])]

    def find_investigation(self, proposal: str) -> Investigation | None:
        rows = self._proposal_list({"proposalId": proposal})
        return Investigation(rows[0]["proposalId"], rows[0]["proposalId"],
                             rows[0].get("title", "")) if rows else None

    def create_investigation(self, proposal: str, title: str = "") -> Investigation:
        if not self.can_create_investigations:
            return super().create_investigation(proposal, title)
        email = self.contact_email or self.user.get("email")
        if not (self.owner_group and email):
            raise UserFacingError("Creating proposals needs 'owner_group' (and a contact email) "
                                  "in the configuration of the SciCat catalogue.")
        self._call("POST", "/api/v3/proposals", f"create proposal {proposal}", json={
            "proposalId": proposal, "title": title or proposal, "email": email,
            "ownerGroup": self.owner_group, "accessGroups": self.access_groups})
        return self.find_investigation(proposal) or Investigation(proposal, proposal, title)

    def _proposal(self, proposal_id: str) -> dict:
        with self._lock:
            if proposal_id in self._proposals:
                return self._proposals[proposal_id]
        rows = self._proposal_list({"proposalId": proposal_id})
        return rows[0] if rows else {"proposalId": proposal_id}

    # -- datasets ---------------------------------------------------------------------------
    def _datasets_route(self, on_v4, on_v3):
        return self.session.per_route("datasets", on_v4, on_v3)

    def find_dataset(self, investigation_id: str, name: str, dataset_key: str) -> DatasetRecord | None:
        params = {"filter": json.dumps({"where": {f"scientificMetadata.{P.OURS}.key": dataset_key},
                                        "limits": {"limit": 2, "skip": 0}})}
        rows = self._datasets_route(
            lambda: self._json("GET", "/api/v4/datasets", "look for the dataset", params=params),
            lambda: self._json("GET", "/api/v3/datasets", "look for the dataset",
                               params=params)) or []
        return self.get_dataset(rows[0]["pid"]) if rows else None

    def create_dataset(self, investigation_id: str, spec: DatasetSpec) -> DatasetRecord:
        # an earlier try may have created it with its answer lost: never a second one
        found = self.find_dataset(investigation_id, spec.name, spec.dataset_key)
        if found is not None:
            return found
        prop = self._proposal(investigation_id)
        owner_group = self.owner_group or prop.get("ownerGroup")
        if not owner_group:
            raise UserFacingError(f"Proposal {investigation_id} has no owner group in "
                                  f"{self.describe()}; set 'owner_group' in the configuration.")
        contact = self.contact_email or self.user.get("email") or prop.get("email")
        if not contact:
            raise UserFacingError(f"{self.describe()} needs a contact email for the dataset; set "
                                  "'contact_email' in the configuration.")
        owner = self.user.get("displayName") or self.user.get("username") or "DataUploader"
        pi = self.pi or " ".join(x for x in (prop.get("pi_firstname"), prop.get("pi_lastname"))
                                 if x) or owner

        def create(version: str):
            body = P.dataset(version, spec, proposal=prop, owner=owner,
                             owner_email=self.user.get("email", ""), contact_email=contact,
                             owner_group=owner_group,
                             access_groups=self.access_groups or prop.get("accessGroups", []),
                             pi=pi, creation_location=self.creation_location,
                             source_folder_host=self.source_folder_host)
            return self._json("POST", f"/api/{version}/datasets",
                              f"create dataset '{spec.name}'", json=body) or {}

        created = self._datasets_route(lambda: create("v4"), lambda: create("v3"))
        pid = created.get("pid")
        if not pid:
            raise CatalogueError(f"{self.describe()} created the dataset but sent no pid back.")
        with self._lock:
            self._datasets[pid] = created
            self._known[pid] = {}
            self._totals[pid] = (0, 0)
        picked = spec.metadata.get(P.THUMBNAIL_KEY)
        if picked and os.path.isabs(picked):
            self._attach_thumbnail(pid, picked)
        return self._record(created, [], [])

    def _read_v4(self, pid: str) -> tuple[dict, list, list]:
        ds = self._json("GET", f"/api/v4/datasets/{pid}", "read the dataset back",
                        params=[("include", "origdatablocks"), ("include", "attachments")])
        return ds, ds.pop("origdatablocks", []), ds.pop("attachments", [])

    def _read_v3(self, pid: str) -> tuple[dict, list, list]:
        ds = self._json("GET", f"/api/v3/datasets/{pid}", "read the dataset back")
        blocks = self._json("GET", f"/api/v3/datasets/{pid}/origdatablocks",
                            "read the dataset's files back") or []
        attachments = self._json("GET", f"/api/v3/datasets/{pid}/attachments",
                                 "read the dataset's attachments back") or []
        return ds, blocks, attachments

    def get_dataset(self, dataset_id: str) -> DatasetRecord:
        pid = pid_path(dataset_id)
        ds, blocks, attachments = self._datasets_route(lambda: self._read_v4(pid),
                                                       lambda: self._read_v3(pid))
        with self._lock:
            self._datasets[dataset_id] = ds
            self._known[dataset_id] = self._index(blocks)
            self._totals[dataset_id] = P.totals(blocks)
            if attachments:
                self._thumbnailed.add(dataset_id)
        return self._record(ds, blocks, attachments)

    @staticmethod
    def _index(blocks: list[dict]) -> dict[str, tuple]:
        known = {}
        for b in blocks:
            bid = b.get("_id") or b.get("id")
            for f in b.get("dataFileList", []):
                known[f["path"]] = (f"{bid}:{f['path']}", f.get("size"), f.get("chk"),
                                    b.get("chkAlg"))
        return known

    @staticmethod
    def _record(ds: dict, blocks: list[dict], attachments: list[dict]) -> DatasetRecord:
        metadata = dict(ds.get("scientificMetadata") or {})
        ours = metadata.pop(P.OURS, {}) or {}
        folder = ds.get("sourceFolder", "")
        files = []
        for b in blocks:
            bid = b.get("_id") or b.get("id")
            for f in b.get("dataFileList", []):
                files.append(DatafileRecord(f"{bid}:{f['path']}", f["path"], int(f.get("size", 0)),
                                            f.get("chk"), b.get("chkAlg"),
                                            f"{folder}/{f['path']}"))
        # a dataset answered in either shape (v4: lists, v3: single values)
        proposal = (ds.get("proposalIds") or [ds.get("proposalId") or ""])[0]
        sample = (ds.get("sampleIds") or [ds.get("sampleId") or ""])[0]
        return DatasetRecord(
            id=ds["pid"], investigation_id=proposal or "", name=ds.get("datasetName", ""),
            complete=bool(ours.get("complete")), dataset_key=ours.get("key"),
            description=ds.get("description", ""), dataset_type=ds.get("type", ""),
            sample=sample or "", keywords=tuple(ds.get("keywords") or ()), metadata=metadata,
            location=folder, datafiles=tuple(files))

    # -- datafiles --------------------------------------------------------------------------
    def _dataset(self, pid: str) -> dict:
        with self._lock:
            ds = self._datasets.get(pid)
        if ds is None or pid not in self._known:
            self.get_dataset(pid)
            ds = self._datasets[pid]
        return ds

    def register_datafiles(self, dataset_id: str, files: list[DatafileSpec]) -> list[str]:
        with self._reg_lock:
            ds = self._dataset(dataset_id)
            known = self._known[dataset_id]
            folder = ds.get("sourceFolder", "")
            ids: list[str | None] = []
            new: list[tuple[int, str]] = []
            for i, f in enumerate(files):
                path = self._path(f, folder)
                have = known.get(path)
                if have is None:
                    new.append((i, path))
                    ids.append(None)
                    continue
                _, size, chk, alg = have
                if size != f.size or (alg == f.algorithm and chk != f.checksum):
                    raise CatalogueError(f"The dataset already has a file '{path}' with other "
                                         f"content in {self.describe()}; it was not replaced.")
                ids.append(have[0])
            for start in range(0, len(new), self.max_files_per_block):
                chunk = new[start:start + self.max_files_per_block]
                self._post_block(dataset_id, files, chunk, ids)
            if self.thumbnail and dataset_id not in self._thumbnailed:
                self._thumbnail_from(dataset_id, files)
        return ids  # type: ignore[return-value]

    @staticmethod
    def _path(f: DatafileSpec, folder: str) -> str:
        """The file's path relative to the dataset's sourceFolder (where it really landed)."""
        if folder and f.location.startswith(folder.rstrip("/") + "/"):
            return f.location[len(folder.rstrip("/")) + 1:]
        return f.name

    def _post_block(self, pid: str, files: list[DatafileSpec], chunk: list[tuple[int, str]],
                    ids: list) -> None:
        by_alg: dict[str, list[tuple[int, str]]] = {}
        for i, path in chunk:
            by_alg.setdefault(files[i].algorithm, []).append((i, path))
        for alg, items in by_alg.items():
            entries = [P.datafile_entry(files[i], path) for i, path in items]
            action = f"register {len(items)} files"

            def post(version: str):
                body = P.origdatablock(version, pid, entries, alg)
                path = ("/api/v4/origdatablocks" if version == "v4"
                        else f"/api/v3/datasets/{pid_path(pid)}/origdatablocks")
                return self._json("POST", path, action, json=body) or {}
            try:
                block = self.session.per_route("origdatablocks", lambda: post("v4"),
                                               lambda: post("v3"))
            except BaseException:
                # it may have been stored with its answer lost: read the blocks again next time
                self._known.pop(pid, None)
                raise
            bid = block.get("_id") or block.get("id")
            size, count = self._totals.get(pid, (0, 0))
            self._totals[pid] = (size + sum(e["size"] for e in entries), count + len(entries))
            for i, p in items:
                self._known[pid][p] = (f"{bid}:{p}", files[i].size, files[i].checksum, alg)
                ids[i] = f"{bid}:{p}"

    # -- thumbnail --------------------------------------------------------------------------
    def _thumbnail_from(self, pid: str, files: list[DatafileSpec]) -> None:
        picked = (self._datasets.get(pid, {}).get("scientificMetadata") or {}).get(P.THUMBNAIL_KEY)
        for f in files:
            if not f.local_path or P.image_type(f.local_path) is None:
                continue
            if picked and picked not in (f.name, f.local_path, os.path.basename(f.name)):
                continue  # the user picked another one
            if self._attach_thumbnail(pid, f.local_path):
                return

    def _attach_thumbnail(self, pid: str, path: str) -> bool:
        uri = P.thumbnail_data_uri(path)
        if uri is None:
            log.info("%s is not a small image; no thumbnail made from it", path)
            return False
        ds = self._datasets.get(pid, {})

        def post(version: str):
            body = P.attachment(version, pid, uri, os.path.basename(path),
                                ds.get("ownerGroup", self.owner_group),
                                ds.get("accessGroups", self.access_groups))
            target = ("/api/v4/attachments" if version == "v4"
                      else f"/api/v3/datasets/{pid_path(pid)}/attachments")
            return self._call("POST", target, "attach the thumbnail", json=body)
        try:
            self.session.per_route("attachments", lambda: post("v4"), lambda: post("v3"))
        except (CatalogueError, PermissionDeniedError) as e:
            log.warning("no thumbnail for %s: %s", pid, e)  # the files matter more
            self._thumbnailed.add(pid)
            return False
        self._thumbnailed.add(pid)
        return True

    # -- complete ---------------------------------------------------------------------------
    def finalize_dataset(self, dataset_id: str) -> None:
        """Mark it complete in the same update that restates its size and file count (a
        partial update zeroes them on the releases facilities run), then read it back."""
        self.get_dataset(dataset_id)  # the blocks as the server has them: the true totals
        with self._lock:
            ds = self._datasets[dataset_id]
            size, count = self._totals[dataset_id]
        metadata = dict(ds.get("scientificMetadata") or {})
        ours = dict(metadata.get(P.OURS) or {})
        if ours.get("complete") and P.totals_recorded(ds) == (size, count):
            return
        ours["complete"] = True
        metadata[P.OURS] = ours
        body = {"scientificMetadata": metadata, **P.size_fields(ds, size, count)}
        pid = pid_path(dataset_id)
        updated = self._datasets_route(
            lambda: self._json("PATCH", f"/api/v4/datasets/{pid}", "mark the dataset complete",
                               json=body),
            lambda: self._json("PATCH", f"/api/v3/datasets/{pid}", "mark the dataset complete",
                               json=body))
        if not isinstance(updated, dict) or P.totals_recorded(updated) != (size, count):
            updated = self._datasets_route(lambda: self._read_v4(pid)[0],
                                           lambda: self._read_v3(pid)[0])
        recorded = P.totals_recorded(updated)
        if recorded != (size, count) or not \
                ((updated.get("scientificMetadata") or {}).get(P.OURS) or {}).get("complete"):
            raise CatalogueError(
                f"{self.describe()} recorded the dataset with {recorded[0]} bytes in "
                f"{recorded[1]} files after marking it complete, but its origdatablocks hold "
                f"{size} bytes in {count} files; resume the job to correct it, or ask the "
                "facility about the backend's dataset updates.")
        with self._lock:
            self._datasets[dataset_id] = updated

    def close(self) -> None:
        self.logout()
        self.web.close()
