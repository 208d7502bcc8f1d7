"""ICAT (icat.server REST): investigations, datasets with parameters, datafiles.

* **Login** offers exactly the authenticators ICAT lists in ``/icat/properties`` (admin-only and
  key-less ones such as ``anon`` are left out unless configured) and the keys they need.
* **Our datasets** carry DataUploader's job key in a DatasetParameter of a facility-defined
  string ParameterType (``key_parameter``, default ``datauploader_key``): ICAT's own place for
  per-dataset metadata, searchable, and covered by the same rules as the dataset, so a resumed
  or re-run job finds its dataset instead of creating another.
* **Checksums**: ICAT has no algorithm field. crc32 is written as bare hex, the form IDS itself
  writes (so datafiles put through IDS and registered ones read alike); every other algorithm
  as ``<algorithm>:<hex>`` (e.g. ``sha256:9f86…``), so the value is never ambiguous.
* **Datafiles** are registered in batches: one ``entityManager`` POST with many entities, after
  one listing of what the dataset already holds (a retry after a lost answer finds its files).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from datauploader.catalogue.base import (Catalogue, CredentialField, DatafileRecord, DatafileSpec,
                                         DatasetRecord, DatasetSpec, Investigation, SharesSession)
from datauploader.checksums import normalize
from datauploader.errors import AuthError, CatalogueError, InputError, UserFacingError
from datauploader.net.icat import ICATSession, decode_checksum, encode_checksum, quote, unwrap
from datauploader.net.webclient import HTTP_OPTIONS, json_or_none, tls_verify, where
from datauploader.options import Option

log = logging.getLogger(__name__)


def icat_date(ts: float) -> str:
    """ICAT's date format (yyyy-MM-dd'T'HH:mm:ss.SSSXXX)."""
    d = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+00:00"


class ICATCatalogue(Catalogue, SharesSession):
    kind = "icat"
    free_metadata = False  # metadata names must be ParameterTypes
    OPTIONS = (
        Option("url", "address of the ICAT server (its REST API is under /icat)", required=True),
        Option("facility", "name of the Facility in ICAT (lookups are restricted to it)",
               default=""),
        Option("authenticators", "authenticators offered at login, comma-separated (default: "
               "every non-admin one that takes credentials)", default=""),
        Option("authenticator", "authenticator preselected at login", default=""),
        Option("datafile_format", "DatafileFormat of registered files: name or name:version",
               default="other"),
        Option("key_parameter", "string ParameterType (applicable to datasets) that keeps "
               "DataUploader's job key with each dataset", default="datauploader_key"),
        Option("keywords_parameter", "string ParameterType that keeps a dataset's keywords "
               "(empty: keywords are refused)", default="keywords"),
        Option("create_investigations", "let users create investigations from DataUploader "
               "(the ICAT rules must allow it too)", default=False, type=bool),
        Option("investigation_type", "InvestigationType of investigations created here",
               default="experiment"),
        Option("visit_id", "visitId of investigations created here", default="1"),
        *HTTP_OPTIONS,
    )

    def __init__(self, url: str, facility: str = "", authenticators: str = "",
                 authenticator: str = "", datafile_format: str = "other",
                 key_parameter: str = "datauploader_key", keywords_parameter: str = "keywords",
                 create_investigations: bool = False, investigation_type: str = "experiment",
                 visit_id: str = "1", ca_bundle: str = "", verify_tls: bool = True,
                 timeout: float = 120.0, clock=time.monotonic):
        self.url = url.rstrip("/")
        self.verify = tls_verify(verify_tls, ca_bundle)
        self.session = ICATSession(self.url, verify=self.verify, timeout=timeout,
                                   facility=facility, datafile_format=datafile_format, clock=clock)
        self.facility = facility
        self.wanted_authenticators = [a.strip() for a in authenticators.split(",") if a.strip()]
        self.default_authenticator = authenticator
        self.datafile_format = datafile_format
        self.key_parameter = key_parameter
        self.keywords_parameter = keywords_parameter
        self.can_create_investigations = bool(create_investigations)
        self.investigation_type = investigation_type
        self.visit_id = visit_id
        self._lock = threading.RLock()  # caches; never held across a call
        self._reg_lock = threading.Lock()  # one registration at a time per catalogue
        self._param_types: dict[str, dict] | None = None
        self._known: dict[str, dict[str, tuple]] = {}  # dataset → name → (id, size, checksum, location)

    # -- identity and login -----------------------------------------------------------------
    def describe(self) -> str:
        return f"ICAT at {where(self.url)}"

    def _offered(self):
        auths = self.session.authenticators()
        if self.wanted_authenticators:
            by = {a.mnemonic: a for a in auths}
            missing = [w for w in self.wanted_authenticators if w not in by]
            if missing:
                raise UserFacingError(
                    f"{self.describe()} has no authenticator {', '.join(missing)} (it offers "
                    f"{', '.join(by) or 'none'}); fix 'authenticators' in the configuration.")
            return [by[w] for w in self.wanted_authenticators]
        return [a for a in auths if a.keys and not a.admin] or [a for a in auths if a.keys] or auths

    def credential_fields(self) -> list[CredentialField]:
        offered = self._offered()
        names = tuple(a.mnemonic for a in offered)
        default = self.default_authenticator if self.default_authenticator in names else names[0]
        # not required: login() falls back to the default, so scripts need not name it; shown
        # by ICAT's friendly names, given (and remembered) by mnemonic
        fields = [CredentialField("authenticator", "Authenticator", required=False, choices=names,
                                  default=default,
                                  choice_labels=tuple(a.friendly or a.mnemonic for a in offered))]
        keys: dict[str, bool] = {}
        for a in offered:
            for name, hidden in a.keys:
                keys[name] = keys.get(name, False) or hidden
        keyed = [a for a in offered if a.keys]
        for name, hidden in keys.items():
            required = all(name in {k for k, _ in a.keys} for a in keyed)
            fields.append(CredentialField(name, name.replace("_", " ").capitalize(), secret=hidden,
                                          required=required))
        return fields

    def login(self, credentials: dict[str, str]) -> str:
        offered = {a.mnemonic: a for a in self._offered()}
        friendly = {a.friendly: a.mnemonic for a in offered.values() if a.friendly}
        chosen = credentials.get("authenticator")
        plugin = friendly.get(chosen, chosen) or (
            self.default_authenticator if self.default_authenticator in offered else next(iter(offered)))
        auth = offered.get(plugin)
        if auth is None:
            raise AuthError(f"{self.describe()} offers no authenticator '{plugin}'; choose one of "
                            f"{', '.join(offered)}.")
        missing = [k for k, _ in auth.keys if not credentials.get(k)]
        if missing:
            raise AuthError(f"Logging in to {self.describe()} with '{plugin}' needs your "
                            f"{', '.join(missing)}.")
        user = self.session.login(plugin, [{k: credentials[k]} for k, _ in auth.keys])
        with self._lock:
            self._known.clear()  # another user may see other files
        return user

    def logout(self) -> None:
        self.session.logout()

    def describe_server(self) -> list[str]:
        version = (json_or_none(self.session._call("GET", "/version", "say its version"))
                   or {}).get("version", "?")
        offered = ", ".join(f"{a.friendly or a.mnemonic} ({a.mnemonic})" for a in self._offered())
        return [f"ICAT {version}", f"authenticators offered: {offered}"]

    # -- the session the IDS storage shares ---------------------------------------------------
    def shared_session(self) -> ICATSession:
        return self.session

    def session_id(self) -> str:
        return self.session.require_session()

    def _parameter_types(self) -> dict[str, dict]:
        if self._param_types is None:
            rows = unwrap(self.session.search_all(
                "SELECT pt FROM ParameterType pt WHERE pt.applicableToDataset = true"
                f"{self.session.facility_cond('pt')} ORDER BY pt.id", "list the parameter types"),
                "ParameterType")
            types: dict[str, dict] = {}
            for r in rows:
                types.setdefault(r["name"], r)
            self._param_types = types
        return self._param_types

    def _parameters(self, spec: DatasetSpec) -> list[dict]:
        types = self._parameter_types()
        key_type = types.get(self.key_parameter)
        if key_type is None or key_type.get("valueType") != "STRING":
            raise CatalogueError(
                f"{self.describe()} has no string parameter type '{self.key_parameter}' for "
                "datasets, which DataUploader needs to recognise its own datasets when a job is "
                "resumed. Ask the facility to create it (valueType STRING, applicable to "
                "datasets), or name an existing one with 'key_parameter'.")
        params = [{"type": {"id": key_type["id"]}, "stringValue": spec.dataset_key}]
        if spec.keywords:
            kw_type = types.get(self.keywords_parameter) if self.keywords_parameter else None
            if kw_type is None:
                raise CatalogueError(f"{self.describe()} has no parameter type for keywords "
                                     f"('{self.keywords_parameter}'); leave the keywords out.")
            params.append({"type": {"id": kw_type["id"]}, "stringValue": ", ".join(spec.keywords)})
        reserved = {self.key_parameter, self.keywords_parameter}
        unknown = [k for k in spec.metadata if k not in types or k in reserved]
        if unknown:
            usable = sorted(n for n in types if n not in reserved)
            raise CatalogueError(
                f"{self.describe()} has no dataset parameter type named "
                f"{', '.join(repr(u) for u in unknown)}; use "
                + (f"one of: {', '.join(usable)}" if usable else "no metadata") + ", or leave "
                "them out.")
        for name, value in spec.metadata.items():
            params.append(self._parameter(types[name], name, value))
        return params

    @staticmethod
    def _parameter(ptype: dict, name: str, value) -> dict:
        out: dict = {"type": {"id": ptype["id"]}}
        kind = ptype.get("valueType")
        if kind == "NUMERIC":
            try:
                out["numericValue"] = float(value)
            except (TypeError, ValueError):
                units = f" in {ptype['units']}" if ptype.get("units") else ""
                raise InputError(f"The metadata '{name}' must be a number{units} for ICAT; "
                                 f"'{value}' is not.") from None
        elif kind == "DATE_AND_TIME":
            try:
                when = dt.datetime.fromisoformat(str(value))
            except ValueError:
                raise InputError(f"The metadata '{name}' must be a date and time for ICAT "
                                 f"(e.g. 2024-05-01T14:30); '{value}' is not.") from None
            if when.tzinfo is None:
                when = when.astimezone()
            out["dateTimeValue"] = icat_date(when.timestamp())
        else:
            out["stringValue"] = str(value)
        return out

    # -- investigations ---------------------------------------------------------------------
    def _user(self) -> str:
        if not self.session.user:
            raise AuthError(f"You are not logged in to {self.describe()}; log in first.")
        return self.session.user

    @staticmethod
    def _investigation(row: dict) -> Investigation:
        return Investigation(str(row["id"]), row["name"], row.get("title", ""))

    def investigations(self, search: str | None = None) -> list[Investigation]:
        # DISTINCT: ICAT adds none, and the join repeats an investigation per role of the user
        q = ("SELECT DISTINCT i FROM Investigation i JOIN i.investigationUsers iu JOIN iu.user u "
             f"WHERE u.name = {quote(self._user())}{self.session.facility_cond('i')}")
        if search:
            like = quote(f"%{search}%")
            q += f" AND (i.name LIKE {like} OR i.title LIKE {like})"
        rows = unwrap(self.session.search_all(q + " ORDER BY i.name", "list your investigations"),
                      "Investigation")
        if not rows and not search:
            # ICAT's read rules apply to every joined entity and empty the list without a word
            raise CatalogueError(
                f"{self.describe()} lists no investigation in which you ({self._user()}) take "
                "part. If you do take part in some, the facility's ICAT rules must let you read "
                "Investigation, InvestigationUser and User; ask the facility. You can still "
                "type the investigation's name.")
        return [self._investigation(r) for r in rows]

    def find_investigation(self, proposal: str) -> Investigation | None:
        rows = unwrap(self.session.search(
            f"SELECT i FROM Investigation i WHERE i.name = {quote(proposal)}"
            f"{self.session.facility_cond('i')} ORDER BY i.id DESC LIMIT 0, 1",
            f"look up investigation {proposal}"), "Investigation")
        return self._investigation(rows[0]) if rows else None

    def create_investigation(self, proposal: str, title: str = "") -> Investigation:
        if not self.can_create_investigations:
            return super().create_investigation(proposal, title)
        if not proposal.strip():
            raise InputError("The proposal is empty; give a proposal number or name.")
        if not self.facility:
            raise UserFacingError("Creating investigations needs the 'facility' of the ICAT "
                                  "catalogue in the configuration.")
        facility = self.session.reference_id("Facility", self.facility, what="facility")
        inv_type = self.session.reference_id("InvestigationType", self.investigation_type,
                                      what="investigation type")
        entity: dict = {"facility": {"id": facility}, "type": {"id": inv_type}, "name": proposal,
                        "visitId": self.visit_id, "title": title or proposal}
        users = unwrap(self.session.search(f"SELECT u FROM User u WHERE u.name = {quote(self._user())}",
                                        "look you up"), "User")
        if users:  # make the creator a participant, so that it shows in their list
            entity["investigationUsers"] = [{"user": {"id": users[0]["id"]},
                                             "role": "principal_experimenter"}]
        self.session.write([{"Investigation": entity}], f"create investigation {proposal}")
        found = self.find_investigation(proposal)
        if found is None:
            raise CatalogueError(f"Investigation {proposal} was created but cannot be read back.")
        return found

    # -- datasets ---------------------------------------------------------------------------
    _DATASET_INCLUDE = ("INCLUDE ds.investigation, ds.type, ds.sample, ds.parameters AS p, p.type")

    def find_dataset(self, investigation_id: str, name: str, dataset_key: str) -> DatasetRecord | None:
        rows = unwrap(self.session.search(
            f"SELECT ds FROM Dataset ds WHERE ds.investigation.id = {int(investigation_id)} AND "
            f"ds.name = {quote(name)} {self._DATASET_INCLUDE}", f"look up dataset '{name}'"),
            "Dataset")
        if not rows:
            return None
        return self._record(rows[0], self.session.datafiles(str(rows[0]["id"])))

    def create_dataset(self, investigation_id: str, spec: DatasetSpec) -> DatasetRecord:
        entity: dict = {
            "investigation": {"id": int(investigation_id)},
            "type": {"id": self.session.reference_id("DatasetType", spec.dataset_type or "raw",
                                              what="dataset type")},
            "name": spec.name, "complete": False, "parameters": self._parameters(spec)}
        if spec.description:
            entity["description"] = spec.description
        if spec.location:
            entity["location"] = spec.location
        if spec.sample:
            entity["sample"] = {"id": self._sample_id(investigation_id, spec.sample)}
        try:
            ids = self.session.write([{"Dataset": entity}], f"create dataset '{spec.name}'")
        except CatalogueError as e:
            if getattr(e, "icat_code", None) == "OBJECT_ALREADY_EXISTS":
                # an earlier try may have succeeded with its answer lost: ours if the key matches
                found = self.find_dataset(investigation_id, spec.name, spec.dataset_key)
                if found is not None and found.dataset_key == spec.dataset_key:
                    return found
            raise
        return self.get_dataset(str(ids[0]))

    def _sample_id(self, investigation_id: str, name: str) -> int:
        rows = unwrap(self.session.search(
            f"SELECT s FROM Sample s WHERE s.investigation.id = {int(investigation_id)} AND "
            f"s.name = {quote(name)}", f"look up sample '{name}'"), "Sample")
        if not rows:
            raise InputError(f"The investigation has no sample named '{name}' in "
                             f"{self.describe()}; choose one of its samples or leave it empty.")
        return rows[0]["id"]

    def get_dataset(self, dataset_id: str) -> DatasetRecord:
        rows = unwrap(self.session.search(
            f"SELECT ds FROM Dataset ds WHERE ds.id = {int(dataset_id)} {self._DATASET_INCLUDE}",
            "read the dataset back"), "Dataset")
        if not rows:
            raise CatalogueError(f"Dataset {dataset_id} is not in {self.describe()}, or you may "
                                 "not see it.")
        return self._record(rows[0], self.session.datafiles(dataset_id))

    def _record(self, row: dict, files: list[dict]) -> DatasetRecord:
        key, keywords, metadata = None, (), {}
        for p in row.get("parameters", []):
            name = p.get("type", {}).get("name")
            value = next((p[k] for k in ("stringValue", "numericValue", "dateTimeValue") if k in p),
                         None)
            if name == self.key_parameter:
                key = value
            elif name == self.keywords_parameter:
                keywords = tuple(k.strip() for k in str(value).split(",") if k.strip())
            elif name:
                metadata[name] = value
        datafiles = []
        for f in files:
            value, alg = decode_checksum(f.get("checksum"))
            datafiles.append(DatafileRecord(str(f["id"]), f["name"], int(f.get("fileSize", 0)),
                                            value, alg, f.get("location")))
        return DatasetRecord(
            id=str(row["id"]), investigation_id=str(row.get("investigation", {}).get("id", "")),
            name=row["name"], complete=bool(row.get("complete")), dataset_key=key,
            description=row.get("description", ""),
            dataset_type=row.get("type", {}).get("name", ""),
            sample=(row.get("sample") or {}).get("name", ""), keywords=keywords,
            metadata=metadata, location=row.get("location", ""), datafiles=tuple(datafiles))

    # -- datafiles --------------------------------------------------------------------------
    def _known_files(self, dataset_id: str) -> dict[str, tuple]:
        known = self._known.get(dataset_id)
        if known is None:
            known = {f["name"]: (str(f["id"]), int(f.get("fileSize", 0)), f.get("checksum"),
                                 f.get("location")) for f in self.session.datafiles(dataset_id)}
            self._known[dataset_id] = known
        return known

    def _check_same(self, spec: DatafileSpec, have: tuple) -> None:
        _, size, checksum, location = have
        value, alg = decode_checksum(checksum)
        if size == spec.size:
            if alg == spec.algorithm:
                if normalize(value, alg) == normalize(spec.checksum, alg):
                    return
            elif location and spec.location and (location == spec.location or
                                                 location.startswith(spec.location + " ")):
                # a file IDS stored for us (its CRC32, our other algorithm): ICAT records the
                # location IDS gave us, possibly followed by a space and a digest
                return
        raise CatalogueError(f"The dataset already has a file '{spec.name}' with other content in "
                             f"{self.describe()}; it was not replaced.")

    def register_datafiles(self, dataset_id: str, files: list[DatafileSpec]) -> list[str]:
        with self._reg_lock:
            for attempt in (1, 2):
                known = self._known_files(dataset_id)
                ids: list[str | None] = []
                new: list[int] = []
                for i, f in enumerate(files):
                    have = known.get(f.name)
                    if have is None:
                        new.append(i)
                        ids.append(None)
                    else:
                        self._check_same(f, have)
                        ids.append(have[0])
                if not new:
                    return ids  # type: ignore[return-value]
                fmt = self.session.datafile_format_id()
                entities = [{"Datafile": self._datafile(dataset_id, files[i], fmt)} for i in new]
                try:
                    created = self.session.write(entities, f"register {len(new)} files")
                except BaseException as e:
                    # the write may have happened with its answer lost: list again next time
                    self._known.pop(dataset_id, None)
                    if attempt == 1 and getattr(e, "icat_code", None) == "OBJECT_ALREADY_EXISTS":
                        continue
                    raise
                for i, dfid in zip(new, created):
                    f = files[i]
                    known[f.name] = (str(dfid), f.size, encode_checksum(f.checksum, f.algorithm),
                                     f.location)
                    ids[i] = str(dfid)
                return ids  # type: ignore[return-value]
        raise AssertionError("unreachable")

    @staticmethod
    def _datafile(dataset_id: str, f: DatafileSpec, fmt: int) -> dict:
        d: dict = {"dataset": {"id": int(dataset_id)}, "name": f.name, "fileSize": f.size,
                   "checksum": encode_checksum(f.checksum, f.algorithm),
                   "datafileFormat": {"id": fmt}}
        if f.location:
            d["location"] = f.location
        if f.mtime:
            # the file's own times; a creation time is not kept by every file system
            d["datafileCreateTime"] = d["datafileModTime"] = icat_date(f.mtime)
        return d

    def finalize_dataset(self, dataset_id: str) -> None:
        self.session.write([{"Dataset": {"id": int(dataset_id), "complete": True}}],
                        "mark the dataset complete")

    def close(self) -> None:
        self.session.logout()
        self.session.close()
