"""openBIS: where data belongs is a collection (Space → Project → Collection) and optionally an
object in it; a dataset is registered once, with all its files, after they are stored.

* **Linked data** (any storage backend: S3, a share, WebDAV …): one ``DataSetCreation`` of kind
  LINK whose content copy points at the job's prefix on an external data management system
  (EDMS) standing for the storage target, made once per target (by an instance admin: openBIS
  lets only them create one) and reused. The files' path info (path, length, CRC32 when the
  job's checksum is CRC32, the job's checksum with its type) goes with it through the DSS's
  ``createDataSets`` where the user may call it (instance admins), else the dataset is made
  on the AS without path info (``file_metadata``).
* **Exactly once.** The dataset's code is made from the job's key, so a registration repeated
  after a lost answer, a kill or a resume finds the dataset instead of making a second one:
  openBIS refuses a second dataset with one code.
* **Properties** are the dataset type's: the name goes in ``name_property``, the description
  in ``description_property``, metadata by property code; unknown codes, missing mandatory
  ones and values of the wrong type are refused before anything moves (``check_dataset``).
"""

from __future__ import annotations

import logging
import threading

from datauploader.catalogue.base import (BrowsesEntries, Catalogue, CredentialField, DatafileRecord,
                                         DatafileSpec, DatasetRecord, DatasetSpec, DatasetType,
                                         Entry, Investigation, PropertyField, RegistersAtEnd)
from datauploader.catalogue.openbis import payloads as P
from datauploader.catalogue.openbis.rpc import AS_PATH, OpenBISError, OpenBISSession
from datauploader.errors import (AuthError, CatalogueError, ConfigError, InputError,
                                 PermissionDeniedError)
from datauploader.net.webclient import HTTP_OPTIONS, WebClient, tls_verify, where
from datauploader.options import Option

log = logging.getLogger(__name__)

_CHECK = {"REAL": float, "INTEGER": int}


class OpenBISCatalogue(Catalogue, RegistersAtEnd, BrowsesEntries):
    kind = "openbis"
    free_metadata = False
    entry_levels = ("space", "project", "collection", "object")
    OPTIONS = (
        Option("url", "address of the openBIS server (the V3 API is under /openbis)",
               required=True),
        Option("auth", "how users log in: password, or token (a personal access token, also "
               "from OBIS_TOKEN)", default="password", choices=("password", "token")),
        Option("dataset_type", "dataset type when none is chosen", default="RAW_DATA"),
        Option("name_property", "property holding the dataset name", default="$NAME"),
        Option("description_property", "property holding the description", default="NOTES"),
        Option("edms_code", "code of the external data management system standing for the "
               "storage (default: one made from the storage's address)", default=""),
        Option("edms_address", "its address: a URL template with ${} for the dataset's "
               "prefix (default: the storage's location), or host:/path for FILE_SYSTEM",
               default=""),
        Option("edms_type", "its address type: url or file_system", default="url",
               choices=("url", "file_system")),
        Option("edms_label", "its label shown in openBIS", default=""),
        Option("file_metadata", "register the files' path info through the DSS: auto (where "
               "the user may), yes (required) or no", default="auto",
               choices=("auto", "yes", "no")),
        *HTTP_OPTIONS,
    )

    def __init__(self, url: str, auth: str = "password", dataset_type: str = "RAW_DATA",
                 name_property: str = "$NAME", description_property: str = "NOTES",
                 edms_code: str = "", edms_address: str = "", edms_type: str = "url",
                 edms_label: str = "", file_metadata: str = "auto", ca_bundle: str = "",
                 verify_tls: bool = True, timeout: float = 120.0, env=None):
        edms_type = edms_type.upper()
        base = url.rstrip("/")
        for tail in ("/openbis/openbis", "/openbis"):
            base = base.removesuffix(tail)
        self.url = base
        self.auth = auth
        self.default_type = dataset_type
        self.name_property = name_property.upper()
        self.description_property = description_property.upper()
        if edms_type == "FILE_SYSTEM" and edms_address and edms_address.count(":") != 1:
            raise ConfigError("a FILE_SYSTEM 'edms_address' is host:/path, with one ':'.",
                              key="edms_address")
        self.edms = {"code": edms_code.upper(), "address": edms_address, "type": edms_type,
                     "label": edms_label}
        self.file_metadata = file_metadata
        self.env = dict(env or {})
        self.web = WebClient(self.url, verify=tls_verify(verify_tls, ca_bundle),
                             timeout=(10.0, timeout), what="openBIS")
        self.session = OpenBISSession(self.url, self.web, self.describe())
        self._lock = threading.Lock()
        self._types: dict[str, DatasetType] | None = None
        self._datastore: str | None = None
        self._edms_ready: set[str] = set()
        self._pathinfo_refused = False

    @classmethod
    def from_config(cls, options: dict, ctx) -> "OpenBISCatalogue":
        return cls(**options, env=ctx.env)

    # -- identity and login -----------------------------------------------------------------
    def describe(self) -> str:
        return f"openBIS at {where(self.url)}"

    def credential_fields(self) -> list[CredentialField]:
        if self.auth == "token":  # OBIS_TOKEN, as the facilities' scripts use it, when empty
            return [CredentialField("token", "Personal access token", secret=True,
                                    required=not self.env.get("OBIS_TOKEN"))]
        return [CredentialField("username", "Username"),
                CredentialField("password", "Password", secret=True)]

    def login(self, credentials: dict[str, str]) -> str:
        with self._lock:
            self._types = None
        if self.auth == "token":
            token = credentials.get("token") or self.env.get("OBIS_TOKEN", "")
            if not token:
                raise AuthError(f"Logging in to {self.describe()} needs a personal access "
                                "token (the login form, DATAUPLOADER_TOKEN or OBIS_TOKEN).")
            return self.session.token_login(token)
        user, password = credentials.get("username", ""), credentials.get("password", "")
        if not user or not password:
            raise AuthError(f"Logging in to {self.describe()} needs your user name and "
                            "password.")
        return self.session.password_login(user, password)

    def logout(self) -> None:
        self.session.logout()

    def describe_server(self) -> list[str]:
        # isSessionActive needs no login: it proves a V3 API answers at this address
        self.session._post(AS_PATH, "isSessionActive", ["-"], "reach the server")
        return [f"openBIS V3 API at {where(self.url)}; datasets as linked data (or physical "
                "through the DSS storage)"]

    def _call(self, method: str, *params, action: str, dss: bool = False):
        return self.session.call(method, *params, action=action, dss=dss)

    # -- where data belongs -----------------------------------------------------------------
    def entries(self, parent: str | None = None, search: str | None = None) -> list[Entry]:
        parts = [p for p in (parent or "").split("/") if p]
        if not parts:
            rows = self._call("searchSpaces", P.criteria("space.search.SpaceSearchCriteria"),
                              P.SPACE, action="list the spaces")["objects"]
            out = [Entry("/" + r["code"], r["code"], "space", r.get("description") or "")
                   for r in rows]
        elif len(parts) == 1:
            crit = P.criteria("project.search.ProjectSearchCriteria", P.criteria(
                "space.search.SpaceSearchCriteria", P.code_is(parts[0])))
            rows = self._call("searchProjects", crit, P.PROJECT,
                              action=f"list the projects of space {parts[0]}")["objects"]
            out = [Entry(r["identifier"]["identifier"], r["code"], "project",
                         r.get("description") or "") for r in rows]
        elif len(parts) == 2:
            out = self._collections(P.criteria(
                "experiment.search.ExperimentSearchCriteria", P.criteria(
                    "project.search.ProjectSearchCriteria", P.code_is(parts[1]), P.criteria(
                        "space.search.SpaceSearchCriteria", P.code_is(parts[0])))))
        else:
            out = self._objects("/" + "/".join(parts[:3]))
        if search:
            s = search.lower()
            out = [e for e in out if s in e.id.lower() or s in e.label.lower()]
        return sorted(out, key=lambda e: e.id)

    def _collections(self, crit: dict) -> list[Entry]:
        rows = self._call("searchExperiments", crit, P.EXPERIMENT,
                          action="list the collections")["objects"]
        idents = [r["identifier"]["identifier"] for r in rows]
        rights = self._rights([P.experiment_id(i) for i in idents]) if idents else {}
        return [Entry(i, r["code"], "collection", (r.get("properties") or {}).get("$NAME") or "",
                      writable="UPDATE" in rights.get(i, ())) for i, r in zip(idents, rows)]

    def _objects(self, collection: str) -> list[Entry]:
        crit = P.criteria("sample.search.SampleSearchCriteria", P.criteria(
            "experiment.search.ExperimentSearchCriteria",
            {"@type": "as.dto.common.search.IdentifierSearchCriteria",
             "fieldValue": P.typed("as.dto.common.search.StringEqualToValue",
                                   value=collection)}))
        rows = self._call("searchSamples", crit, P.SAMPLE,
                          action=f"list the objects of {collection}")["objects"]
        idents = [r["identifier"]["identifier"] for r in rows]
        rights = self._rights([P.sample_id(i) for i in idents]) if idents else {}
        return [Entry(i, r["code"], "object", (r.get("properties") or {}).get("$NAME") or "",
                      writable="UPDATE" in rights.get(i, ())) for i, r in zip(idents, rows)]

    def _rights(self, ids: list[dict]) -> dict[str, set[str]]:
        answer = self._call("getRights", ids, {"@type": "as.dto.rights.fetchoptions."
                                                        "RightsFetchOptions"},
                            action="read your rights") or {}
        return {k: set((v or {}).get("rights") or ()) for k, v in answer.items()}

    def investigations(self, search: str | None = None) -> list[Investigation]:
        rows = self._collections(P.criteria("experiment.search.ExperimentSearchCriteria"))
        out = [Investigation(e.id, e.id, e.label) for e in rows if e.writable]
        if search:
            s = search.lower()
            out = [i for i in out if s in i.proposal.lower() or s in i.title.lower()]
        return out

    def find_investigation(self, proposal: str) -> Investigation | None:
        ident = "/" + "/".join(p for p in proposal.upper().split("/") if p)
        found = self._call("getExperiments", [P.experiment_id(ident)], P.EXPERIMENT,
                           action=f"read collection {ident}") or {}
        row = found.get(ident)
        if row is None:
            return None
        return Investigation(ident, ident, (row.get("properties") or {}).get("$NAME") or "")

    def object_identifier(self, collection: str, sample: str) -> str:
        """An object named by its code (in the collection's project) or its identifier."""
        if sample.startswith("/"):
            return sample.upper()
        space, project = collection.strip("/").split("/")[:2]
        return f"/{space}/{project}/{sample}".upper()

    # -- dataset types ----------------------------------------------------------------------
    def dataset_types(self) -> list[DatasetType]:
        with self._lock:
            if self._types is not None:
                return list(self._types.values())
        rows = self._call("searchDataSetTypes", P.criteria(
            "dataset.search.DataSetTypeSearchCriteria"), P.DATASET_TYPE,
            action="list the dataset types")["objects"]
        types = {}
        for r in rows:
            props = tuple(PropertyField(
                a["propertyType"]["code"], a["propertyType"].get("label") or "",
                a["propertyType"].get("dataType") or "VARCHAR", bool(a.get("mandatory")),
                a.get("section") or "", a["propertyType"].get("description") or "")
                for a in sorted(r.get("propertyAssignments") or [],
                                key=lambda a: a.get("ordinal") or 0))
            types[r["code"]] = DatasetType(r["code"], r.get("description") or "", props)
        with self._lock:
            self._types = types
        return list(types.values())

    def _type(self, code: str) -> DatasetType:
        code = self._type_code(code)
        types = {t.code: t for t in self.dataset_types()}
        if code not in types:
            raise InputError(f"{self.describe()} has no dataset type '{code}'; the types are: "
                             f"{', '.join(sorted(types))}.")
        return types[code]

    def _type_code(self, code: str) -> str:
        return (self.default_type if not code or code == "raw" else code).upper()

    def properties(self, spec: DatasetSpec, dtype: DatasetType) -> tuple[dict, list[str]]:
        """The properties of the dataset (checked against its type) and notices."""
        declared = {p.code: p for p in dtype.properties}
        props, notices = {}, []
        if self.name_property in declared:
            props[self.name_property] = spec.name
        else:
            notices.append(f"dataset type {dtype.code} has no {self.name_property} property: "
                           f"the name '{spec.name}' is not stored in openBIS (the dataset's "
                           "code identifies it)")
        if spec.description:
            if self.description_property not in declared:
                raise InputError(f"Dataset type {dtype.code} has no {self.description_property} "
                                 "property for the description; leave the description empty, "
                                 "or put it in one of its properties.")
            props[self.description_property] = spec.description
        for key, value in spec.metadata.items():
            props[key.upper()] = str(value)
        unknown = sorted(k for k in props if k not in declared)
        if unknown:
            raise InputError(f"Dataset type {dtype.code} has no propert"
                             f"{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; its "
                             f"properties are: {', '.join(declared) or 'none'}.")
        for code, value in props.items():
            kind = declared[code].data_type
            try:
                if kind in _CHECK:
                    _CHECK[kind](value)
                elif kind == "BOOLEAN" and value.lower() not in ("true", "false"):
                    raise ValueError
            except ValueError:
                raise InputError(f"The property {code} of dataset type {dtype.code} takes "
                                 f"{kind.lower()} values, not '{value}'.") from None
        missing = [p.code for p in dtype.properties if p.mandatory and not props.get(p.code)]
        if missing:
            raise InputError(f"Dataset type {dtype.code} requires {', '.join(missing)}; give "
                             + " ".join(f"--meta {m}=VALUE" for m in missing)
                             + " (or fill them in the form).")
        return props, notices

    def check_dataset(self, investigation_id: str, spec: DatasetSpec) -> list[str]:
        inv = self.find_investigation(investigation_id)
        if inv is None:
            raise InputError(f"{self.describe()} has no collection {investigation_id}, or you "
                             "cannot see it; write it as /SPACE/PROJECT/COLLECTION.")
        if "UPDATE" not in self._rights([P.experiment_id(inv.id)]).get(inv.id, set()):
            raise PermissionDeniedError(f"{self.describe()} does not allow you to add datasets "
                                        f"to collection {inv.id}.")
        if spec.sample:
            ident = self.object_identifier(inv.id, spec.sample)
            found = self._call("getSamples", [P.sample_id(ident)], P.SAMPLE,
                               action=f"read object {ident}") or {}
            row = found.get(ident)
            if row is None:
                raise InputError(f"{self.describe()} has no object {ident}, or you cannot see "
                                 "it.")
            exp = ((row.get("experiment") or {}).get("identifier") or {}).get("identifier")
            if exp != inv.id:
                raise InputError(f"The object {ident} is not in collection {inv.id}; choose one "
                                 "of its objects, or its own collection.")
        if spec.keywords:
            raise InputError("openBIS datasets take no keywords here; put them in a property "
                             "(--meta CODE=VALUE).")
        return self.properties(spec, self._type(spec.dataset_type))[1]

    # -- datasets ---------------------------------------------------------------------------
    def find_dataset(self, investigation_id: str, name: str, dataset_key: str) -> DatasetRecord | None:
        return self._read(P.dataset_code(dataset_key))

    def create_dataset(self, investigation_id: str, spec: DatasetSpec) -> DatasetRecord:
        """Reserves the code: the dataset is made with its files by ``register_dataset``. The
        external DMS is found (or made) now, so that a missing one stops the job before any
        byte moves."""
        self.check_dataset(investigation_id, spec)
        self._edms_for(spec)
        return DatasetRecord(P.dataset_code(spec.dataset_key), investigation_id, spec.name,
                             False, spec.dataset_key, spec.description,
                             self._type_code(spec.dataset_type), spec.sample,
                             metadata=dict(spec.metadata), location=spec.location)

    def get_dataset(self, dataset_id: str) -> DatasetRecord:
        found = self._read(dataset_id)
        if found is not None:
            return found
        # reserved, not registered yet: its files are registered with it at the end
        return DatasetRecord(dataset_id, "", "", False, dataset_id.lower())

    def _read(self, code: str) -> DatasetRecord | None:
        found = self._call("getDataSets", [P.dataset_id(code)], P.DATASET,
                           action=f"read dataset {code}") or {}
        ds = found.get(code)
        if ds is None:
            return None
        files = self._call("searchFiles", P.files_criteria(code), P.FILES_FETCH,
                           action=f"read the files of dataset {code}", dss=True)["objects"]
        props = dict(ds.get("properties") or {})
        exp = ((ds.get("experiment") or {}).get("identifier") or {}).get("identifier", "")
        smp = ((ds.get("sample") or {}).get("identifier") or {}).get("identifier", "")
        copies = (ds.get("linkedData") or {}).get("contentCopies") or []
        location = ""
        if copies:
            c = copies[0]
            address = (c.get("externalDms") or {}).get("address") or ""
            location = address.replace("${}", c.get("externalCode") or "") if c.get(
                "externalCode") is not None else f"{address}{c.get('path') or ''}"
        datafiles = tuple(DatafileRecord(
            f"{code}:{f['path']}", f["path"], int(f.get("fileLength") or 0), f.get("checksum"),
            (f.get("checksumType") or "").lower() or None, None)
            for f in files if not f.get("directory"))
        return DatasetRecord(
            code, exp, props.pop(self.name_property, ""), True, code.lower(),
            props.pop(self.description_property, ""), (ds.get("type") or {}).get("code", ""),
            smp, metadata=props, location=location, datafiles=datafiles)

    def register_dataset(self, dataset_id: str, investigation_id: str, spec: DatasetSpec,
                         files: list[DatafileSpec]) -> list[str]:
        ids = [f"{dataset_id}:{f.name}" for f in files]
        if self._registered(dataset_id, files):
            return ids
        dtype = self._type(spec.dataset_type)
        props, _ = self.properties(spec, dtype)
        sample = self.object_identifier(investigation_id, spec.sample) if spec.sample else ""
        edms, address_type, where_ = self._edms_for(spec)
        creation = P.linked_creation(
            code=dataset_id, dataset_type=dtype.code, experiment=investigation_id,
            sample=sample, datastore=self._datastore_code(), properties=props, edms=edms,
            address_type=address_type, where=where_)
        try:
            self._create(creation, files)
        except OpenBISError as e:
            # made by an earlier try whose answer was lost, or at the same moment by a resume
            if "already exists" in str(e) and self._registered(dataset_id, files):
                return ids
            raise
        return ids

    def _registered(self, code: str, files: list[DatafileSpec]) -> bool:
        ds = self._read(code)
        if ds is None:
            return False
        held = {f.name: f for f in ds.datafiles}
        for f in files:
            have = held.get(f.name)
            if have is not None and (have.size != f.size or (
                    have.algorithm == f.algorithm.lower() and have.checksum != f.checksum)):
                raise CatalogueError(f"Dataset {code} in {self.describe()} already holds "
                                     f"'{f.name}' with other content; it was not changed.")
        return True

    def _create(self, creation: dict, files: list[DatafileSpec]) -> None:
        use_dss = self.file_metadata == "yes" or (self.file_metadata == "auto"
                                                  and not self._pathinfo_refused)
        if use_dss:
            try:
                self._call("createDataSets", [P.full_creation(creation, files)],
                           action=f"register dataset {creation['code']} with its files",
                           dss=True)
                return
            except PermissionDeniedError:
                if self.file_metadata == "yes":
                    raise
                self._pathinfo_refused = True
                log.warning("the DSS of %s keeps path info only for instance admins: dataset "
                            "%s is registered without its file list", self.describe(),
                            creation["code"])
        self._call("createDataSets", [creation],
                   action=f"register dataset {creation['code']}")

    def _datastore_code(self) -> str:
        if self._datastore is None:
            rows = self._call("searchDataStores", {"@type": "as.dto.datastore.search."
                                                            "DataStoreSearchCriteria"},
                              P.DATASTORE, action="find the data store")["objects"]
            if not rows:
                raise CatalogueError(f"{self.describe()} has no data store server.")
            self._datastore = rows[0]["code"]
        return self._datastore

    def _edms_for(self, spec: DatasetSpec) -> tuple[str, str, str]:
        """The EDMS standing for the storage target (made if missing and allowed), and where
        the dataset is on it."""
        root = spec.storage_root or spec.location
        where_ = spec.location[len(root):] if spec.location.startswith(root) else spec.location
        code = self.edms["code"] or P.edms_code(root)
        typ = self.edms["type"]
        address = self.edms["address"] or (root + "${}" if typ == "URL" else "")
        if typ == "FILE_SYSTEM" and not address:
            raise ConfigError("a FILE_SYSTEM external DMS needs 'edms_address' (host:/path).",
                              key="edms_address")
        if code in self._edms_ready:
            return code, typ, where_
        found = self._call("getExternalDataManagementSystems", [P.typed(
            "as.dto.externaldms.id.ExternalDmsPermId", permId=code)], P.EDMS,
            action=f"read external DMS {code}") or {}
        if code not in found:
            try:
                self._call("createExternalDataManagementSystems", [P.typed(
                    "as.dto.externaldms.create.ExternalDmsCreation", code=code,
                    label=self.edms["label"] or f"DataUploader: {root}", addressType=typ,
                    address=address)], action=f"create external DMS {code}")
            except PermissionDeniedError:
                raise PermissionDeniedError(
                    f"{self.describe()} has no external data management system {code} for "
                    f"{root}, and only an instance admin may create one: ask them to create "
                    f"it (code {code}, address type {typ}, address {address}), or set "
                    "'edms_code' to one that exists; then resume the job.") from None
        self._edms_ready.add(code)
        return code, typ, where_

    def register_datafiles(self, dataset_id: str, files: list[DatafileSpec]) -> list[str]:
        raise CatalogueError(f"{self.describe()} registers a dataset with all its files at "
                             "once (register_dataset), never file by file.")

    def finalize_dataset(self, dataset_id: str) -> None:
        if self._read(dataset_id) is None:
            raise CatalogueError(f"Dataset {dataset_id} is not in {self.describe()}; resume "
                                 "the job to register it.")

    def close(self) -> None:
        self.logout()
        self.web.close()
