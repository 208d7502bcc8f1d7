"""etiket (QHarbor): scopes, datasets with a client-chosen uuid, collections, and the files of
an etiket storage confirmed as secured. etiket keeps the bytes of its files itself, so this
catalogue is paired with a storage of type ``etiket`` (``storage/etiket.py``), which works in
this catalogue's login (``SharesSession``).

* **Login** (``auth``): ``password`` (etiket's token endpoint: an access token and a refresh
  token), ``sso`` (the facility's OpenID provider in the system browser, ``net.oidc``) or
  ``token`` (an API token). After a password or single sign-on the refresh token is kept in
  the OS keyring: the next run logs in with it (``kept_login``), without asking again, and
  every renewal stores the new one (etiket's refresh tokens are single-use).
* **Scopes** are the proposals: ``GET /api/v3/scopes?name=…`` lists the user's own (the
  server shows non-admins only their scopes), archived ones left out.
* **Datasets**: the uuid is derived from the job's dataset key (``etiket_payloads``), so a
  lost answer, a resume or a re-run finds the dataset instead of making a second; name,
  description, keywords, ranking, ``alt_uid`` and attributes checked against etiket's limits
  before anything is sent (``check_values``). A collection is made if missing and the
  dataset added, on servers that have collections (the ``/api/v1/collections`` routes).
* **Complete**: etiket has no such flag; the ``complete_attribute`` attribute is set to
  ``complete`` (empty: not marked).
* **Thumbnail**: the JPEG named by the ``thumbnail`` metadata, else the first JPEG among the
  files, stored as the dataset's hidden file ``__thumbnail_0`` (dataQruiser's convention).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import webbrowser
from urllib.parse import quote, urlsplit

from datauploader.catalogue import etiket_payloads as P
from datauploader.catalogue.base import (Catalogue, CredentialField, DatasetField, DatasetRecord,
                                         DatasetSpec, Investigation, SharesSession)
from datauploader.errors import AuthError, CatalogueError, ConfigError, InputError, UserFacingError
from datauploader.net import etiket_files as F
from datauploader.net.etiket import EtiketError, EtiketSession, NoSuchRoute
from datauploader.net.oidc import OAuthClient, discover
from datauploader.net.webclient import HTTP_OPTIONS, WebClient, json_or_none, tls_verify, where
from datauploader.options import Option

log = logging.getLogger(__name__)

METHODS = {"password": "Password", "sso": "Single sign-on (browser)", "token": "API token"}
THUMBNAIL_LIMIT = 1 << 20
JPEG = b"\xff\xd8\xff"


class EtiketCatalogue(Catalogue, SharesSession):
    kind = "etiket"
    OPTIONS = (
        Option("url", "address of the etiket server (its API is under /api)", required=True),
        Option("auth", "how users log in: password, sso (the browser), token (an API token), "
               "or several as 'password,sso' (chosen at login)", default="password"),
        Option("sso_config_url", "the OpenID provider for sso: its issuer, or the address of "
               "its .well-known/openid-configuration", default=""),
        Option("sso_client_id", "the client id etiket's single sign-on is registered under",
               default=""),
        Option("sso_scopes", "scopes asked of the OpenID provider", default="openid email profile"),
        Option("sso_audience", "an audience to ask the OpenID provider for (some need one)",
               default=""),
        Option("sso_redirect_host", "the loopback name the provider sends the browser back to",
               default="127.0.0.1", choices=("127.0.0.1", "localhost")),
        Option("complete_attribute", "the dataset attribute set to 'complete' at the end "
               "(empty: none)", default="datauploader"),
        Option("thumbnail", "store a JPEG among the files (or the one the 'thumbnail' metadata "
               "names) as the dataset's thumbnail", default=True, type=bool),
        *HTTP_OPTIONS,
    )

    def __init__(self, url: str, auth: str = "password", sso_config_url: str = "",
                 sso_client_id: str = "", sso_scopes: str = "openid email profile",
                 sso_audience: str = "", sso_redirect_host: str = "127.0.0.1",
                 complete_attribute: str = "datauploader", thumbnail: bool = True,
                 ca_bundle: str = "", verify_tls: bool = True, timeout: float = 120.0,
                 secrets=None, clock=time.time, open_browser=webbrowser.open):
        base = url.rstrip("/")
        for tail in ("/api/v2", "/api/v3", "/api"):
            if base.endswith(tail):
                base = base[:-len(tail)]
        self.url = base
        self.methods = [m.strip() for m in auth.split(",") if m.strip()]
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ConfigError(f"'auth' must be password, sso or token (or several, comma-"
                              f"separated), not '{auth}'.", key="auth")
        if "sso" in self.methods and not (sso_config_url and sso_client_id):
            raise ConfigError("Single sign-on needs 'sso_config_url' and 'sso_client_id'.",
                              key="sso_config_url" if not sso_config_url else "sso_client_id")
        self.sso = (sso_config_url, sso_client_id, tuple(sso_scopes.split()), sso_audience,
                    sso_redirect_host)
        self.complete_attribute = complete_attribute.strip()
        self.thumbnail = thumbnail
        self.secrets = secrets
        self.open_browser = open_browser
        self.web = WebClient(self.url, verify=tls_verify(verify_tls, ca_bundle),
                             timeout=(10.0, timeout), what="etiket")
        self.store = WebClient(self.url, verify=self.web.session.verify, timeout=(10.0, timeout),
                               what="etiket's object store")
        self.session = EtiketSession(self.url, self.web, clock, timeout)
        self.netloc = urlsplit(self.url).netloc
        self._lock = threading.Lock()
        self._scopes: dict[str, dict] = {}  # uuid → scope
        self._keys: dict[str, str] = {}  # dataset uuid → dataset key
        self._thumbnailed: set[str] = set()
        self._picked: dict[str, str] = {}  # dataset uuid → the 'thumbnail' metadata

    @classmethod
    def from_config(cls, options: dict, ctx) -> "EtiketCatalogue":
        return cls(**options, secrets=getattr(ctx, "secrets", None))

    def describe(self) -> str:
        return f"etiket at {where(self.url)}"

    def shared_session(self) -> EtiketSession:
        return self.session

    # -- login ------------------------------------------------------------------------------
    def credential_fields(self) -> list[CredentialField]:
        only = len(self.methods) == 1
        fields = []
        if not only or self.methods == ["sso"]:  # (a form with no field would say "no login")
            fields.append(CredentialField("method", "Log in with", required=False,
                                          choices=tuple(self.methods), default=self.methods[0],
                                          choice_labels=tuple(METHODS[m] for m in self.methods)))
        if "password" in self.methods:
            fields += [CredentialField("username", "Username", required=only),
                       CredentialField("password", "Password", secret=True, required=only)]
        if "token" in self.methods:
            fields.append(CredentialField("token", "API token", secret=True, required=only))
        return fields

    def _method(self, credentials: dict) -> str:
        method = credentials.get("method") or self.methods[0]
        if method not in self.methods:
            raise AuthError(f"{self.describe()} takes {', '.join(self.methods)} logins here, not "
                            f"'{method}'.")
        return method

    def login(self, credentials: dict[str, str]) -> str:
        method = self._method(credentials)
        self.session.forget()
        if method == "token":
            if not credentials.get("token"):
                raise AuthError(f"Logging in to {self.describe()} needs your API token.")
            return self.session.login_token(credentials["token"])
        self.session.keep = self._keeper(method, credentials.get("username", ""))
        if method == "password":
            if not credentials.get("username") or not credentials.get("password"):
                raise AuthError(f"Logging in to {self.describe()} needs your user name and "
                                "password.")
            return self.session.login_password(credentials["username"], credentials["password"])
        config_url, client_id, scopes, audience, host = self.sso
        provider = discover(config_url, verify=self.web.session.verify)
        return self.session.login_sso(provider, client_id, scopes, self.open_browser,
                                      {"audience": audience} if audience else None, host)

    # the refresh token, kept in the OS keyring: one entry per server and login method
    def _slot(self, method: str) -> tuple[str, str]:
        return self.keyring_service(), f"{method}:refresh_token"

    def _keeper(self, method: str, username: str):
        def keep(refresh_token: str | None) -> None:
            if self.secrets is None:
                return
            service, user = self._slot(method)
            if refresh_token is None:
                self.secrets.delete(service, user)
            else:
                self.secrets.set(service, user, json.dumps(
                    {"user": username, "refresh_token": refresh_token}))
        return keep

    def _renewer(self, method: str) -> OAuthClient:
        if method == "password":
            return self.session.token_client()
        config_url, client_id, scopes, _, _ = self.sso
        provider = discover(config_url, verify=self.web.session.verify)
        return OAuthClient(client_id, provider.token_endpoint, verify=self.web.session.verify,
                           what="the identity provider", scopes=scopes)

    def kept_login(self, credentials: dict[str, str]) -> str | None:
        method = self._method(credentials)
        if method == "token" or self.secrets is None:
            return None
        service, user = self._slot(method)
        raw = self.secrets.get(service, user)
        try:
            kept = json.loads(raw) if raw else None
        except ValueError:
            kept = None
        if not isinstance(kept, dict) or not kept.get("refresh_token"):
            return None
        if credentials.get("username") and kept.get("user") not in ("", credentials["username"]):
            return None  # kept for someone else
        self.session.forget()
        self.session.keep = self._keeper(method, kept.get("user", ""))
        try:
            return self.session.login_refresh(method, kept["refresh_token"], self._renewer(method))
        except AuthError:
            log.info("the kept etiket login was refused; a new login is needed")
            self.secrets.delete(service, user)
            return None

    def forget_kept_login(self, credentials: dict[str, str]) -> bool:
        if self.secrets is None:
            return False
        gone = []
        for method in (m for m in self.methods if m != "token"):
            service, user = self._slot(method)
            raw = self.secrets.get(service, user)
            if raw and method == "password":  # ended on the server too (best effort)
                try:
                    token = json.loads(raw).get("refresh_token")
                except ValueError:
                    token = None
                if token:
                    self.session.token_client().revoke(self.url + "/api/v3/token/revoke", token)
            gone.append(self.secrets.delete(service, user))
        return any(gone)

    def logout(self) -> None:
        self.session.logout()

    def login_ends(self) -> float | None:
        return self.session.login_ends()

    def describe_server(self) -> list[str]:
        """Asked without logging in: the API answers (401 to an anonymous caller), and whether
        the server has collections (FastAPI's 404 "Not Found" where it has not)."""
        resp = self.web.request("GET", "/api/v3/token/userinfo")
        if resp.status_code not in (401, 403):
            raise UserFacingError(f"There is no etiket API at {self.url}/api (HTTP "
                                  f"{resp.status_code} from /api/v3/token/userinfo); check the "
                                  "'url' of the catalogue.")
        probe = self.web.request("GET", "/api/v1/collections/-/-")
        none = probe.status_code == 404 and (json_or_none(probe) or {}).get("detail") == "Not Found"
        return ["API: v2 datasets and files, v3 tokens and scopes",
                "collections: not offered (current servers group datasets by attributes)" if none
                else "collections: offered (the v1 routes)",
                "login: " + ", ".join(METHODS[m].lower() for m in self.methods)]

    # -- scopes -----------------------------------------------------------------------------
    def _scope_list(self, name: str | None = None) -> list[dict]:
        rows = self.session.json("GET", "/scopes", "list your scopes", version="v3",
                                 params={"name": name} if name else None) or []
        rows = [r for r in rows if not (r.get("is_archived") or r.get("archived"))]
        with self._lock:
            for r in rows:
                self._scopes[str(r.get("uuid") or r.get("uid"))] = r
        return rows

    @staticmethod
    def _investigation(r: dict) -> Investigation:
        return Investigation(str(r.get("uuid") or r.get("uid")), r["name"],
                             r.get("description") or "")

    def investigations(self, search: str | None = None) -> list[Investigation]:
        rows = self._scope_list(search or None)
        if search:  # the server matches names; descriptions are matched here too
            s = search.lower()
            rows = [r for r in rows if s in r["name"].lower()
                    or s in (r.get("description") or "").lower()] or rows
        return [self._investigation(r) for r in sorted(rows, key=lambda r: r["name"])]

    def find_investigation(self, proposal: str) -> Investigation | None:
        for r in self._scope_list(proposal):
            if proposal in (r["name"], str(r.get("uuid") or r.get("uid"))):
                return self._investigation(r)
        return None

    # -- datasets ---------------------------------------------------------------------------
    def dataset_fields(self) -> list[DatasetField]:
        return list(P.FIELDS)

    def check_values(self, spec: DatasetSpec) -> None:
        P.fields(spec)

    def _read(self, ds_uuid: str, scope_uuid: str | None = None) -> dict | None:
        params = {"dataset_uuid": ds_uuid}
        if scope_uuid:
            params["scope_uuid"] = scope_uuid
        try:
            return self.session.json("GET", "/dataset/", "read the dataset back", params=params)
        except EtiketError as e:
            if e.status == 404:
                return None
            raise

    def _record(self, ds: dict) -> DatasetRecord:
        return P.record(ds, self.netloc, self.complete_attribute, self._keys.get(str(ds["uuid"])))

    def find_dataset(self, investigation_id: str, name: str, dataset_key: str) -> DatasetRecord | None:
        ds_uuid = P.dataset_uuid(dataset_key)
        with self._lock:
            self._keys[ds_uuid] = dataset_key
        ds = self._read(ds_uuid, investigation_id)
        return None if ds is None else self._record(ds)

    def create_dataset(self, investigation_id: str, spec: DatasetSpec) -> DatasetRecord:
        if not spec.location.startswith(f"etiket://{self.netloc}/"):
            raise ConfigError(f"{self.describe()} keeps the files of its datasets in its own "
                              "store: pair this catalogue with a storage of type etiket "
                              "([storage:NAME] type = etiket, catalogue = the catalogue's name).")
        found = self.find_dataset(investigation_id, spec.name, spec.dataset_key)
        if found is not None:  # an earlier try made it, its answer lost
            return found
        ds_uuid = P.dataset_uuid(spec.dataset_key)
        own, _ = P.fields(spec)
        if spec.metadata.get(P.THUMBNAIL_KEY):
            self._picked[ds_uuid] = str(spec.metadata[P.THUMBNAIL_KEY])
        body = P.dataset_body(spec, ds_uuid, investigation_id, self.session.user,
                              F.utc_iso(time.time()))
        if own.get("alt_uid"):
            self._check_alt_uid(own["alt_uid"], investigation_id)
        if own.get("collection"):
            self._collection(investigation_id, own["collection"], None)  # offered at all?
        try:
            self.session.call("POST", "/dataset/", f"create dataset '{spec.name}'", json=body)
        except EtiketError as e:
            if e.status not in (400, 409) or self._read(ds_uuid) is None:
                raise
        if own.get("collection"):
            self._collection(investigation_id, own["collection"], ds_uuid)
        ds = self._read(ds_uuid)
        if ds is None:
            raise CatalogueError(f"{self.describe()} took dataset '{spec.name}' but cannot read it "
                                 "back.")
        return self._record(ds)

    def _check_alt_uid(self, alt_uid: str, scope_uuid: str) -> None:
        try:
            other = self.session.json("GET", "/dataset/by_alt_uid/", "look up the alt_uid",
                                      params={"dataset_alt_uid": alt_uid,
                                              "scope_uuid": scope_uuid})
        except EtiketError as e:
            if e.status == 404:
                return
            raise
        if other:
            raise InputError(f"alt_uid '{alt_uid}' is already the id of dataset "
                             f"'{other.get('name')}' in this scope; choose another.")

    def _scope_name(self, scope_uuid: str) -> str:
        with self._lock:
            scope = self._scopes.get(scope_uuid)
        if scope is None:
            self._scope_list()
            scope = self._scopes.get(scope_uuid, {"name": scope_uuid})
        return scope["name"]

    def _collection(self, scope_uuid: str, name: str, ds_uuid: str | None) -> None:
        """Make the collection if missing (``ds_uuid`` None: only find out whether the server
        has collections), then add the dataset."""
        scope = self._scope_name(scope_uuid)
        path = f"/collections/{quote(scope, safe='')}/{quote(name, safe='')}"
        try:
            self.session.call("GET", path, "read the collection", version="v1")
        except NoSuchRoute:
            raise InputError(f"{self.describe()} has no collections (current etiket servers "
                             "group datasets by their attributes); leave 'collection' out, or "
                             "make it an attribute.") from None
        except EtiketError as e:
            if e.status != 404:
                raise
            if ds_uuid is None:
                return
            self.session.call("POST", "/collections/", f"create collection '{name}'",
                              version="v1", json={"name": name, "scope": scope})
        if ds_uuid is not None:
            self.session.call("PUT", f"{path}/datasets/{ds_uuid}",
                              f"add the dataset to collection '{name}'", version="v1")

    def get_dataset(self, dataset_id: str) -> DatasetRecord:
        ds = self._read(dataset_id)
        if ds is None:
            raise CatalogueError(f"Dataset {dataset_id} is not in {self.describe()} (or no longer "
                                 "visible to you).")
        return self._record(ds)

    # -- datafiles: the storage registered and secured them; confirmed here ----------------
    def register_datafiles(self, dataset_id: str, files) -> list[str]:
        ds = self._read(dataset_id)
        if ds is None:
            raise CatalogueError(f"Dataset {dataset_id} is not in {self.describe()}.")
        have = {(str(f["uuid"]), int(f["version_id"])): f for f in ds.get("files") or []}
        ids = []
        for spec in files:
            where_ = P.location_of(spec.location)
            if where_ is None or where_[0] != dataset_id:
                raise ConfigError(f"{spec.name} was not stored by etiket in this dataset "
                                  f"({spec.location or 'no location'}); {self.describe()} "
                                  "catalogues only files of a storage of type etiket.")
            _, file_uuid, version = where_
            f = have.get((file_uuid, version))
            if f is None or f.get("status") != F.SECURED:
                raise CatalogueError(f"{self.describe()} does not have {spec.name} as secured "
                                     f"(it is {f.get('status') if f else 'not there'}); resume "
                                     "the job to send it again.")
            if int(f.get("size") or 0) != spec.size:
                raise CatalogueError(f"{self.describe()} has {spec.name} with {f.get('size')} "
                                     f"bytes, but {spec.size} were sent.")
            ids.append(f"{file_uuid}:{version}")
        if self.thumbnail and dataset_id not in self._thumbnailed:
            self._thumbnail(dataset_id, ds, files)
        return ids

    def _thumbnail(self, ds_uuid: str, ds: dict, files) -> None:
        picked = self._picked.get(ds_uuid)
        if any(f.get("name") == F.THUMBNAIL_NAME and f.get("status") == F.SECURED
               for f in ds.get("files") or []):
            self._thumbnailed.add(ds_uuid)
            return
        for spec in files:
            path = spec.local_path
            if not path or (picked and picked not in (spec.name, path,
                                                      os.path.basename(spec.name))):
                continue
            try:
                with open(path, "rb") as fh:
                    data = fh.read(THUMBNAIL_LIMIT + 1)
            except OSError:
                continue
            if not data.startswith(JPEG) or len(data) > THUMBNAIL_LIMIT:
                continue
            try:
                F.upload_small(self.session, self.store, ds_uuid, F.THUMBNAIL_NAME,
                               F.THUMBNAIL_FILENAME, data, self.session.user, F.HIDDEN_RANKING)
            except Exception as e:  # noqa: BLE001 - the files matter more than their picture
                log.warning("no thumbnail for dataset %s: %s", ds_uuid, e)
            self._thumbnailed.add(ds_uuid)
            return

    # -- complete ---------------------------------------------------------------------------
    def finalize_dataset(self, dataset_id: str) -> None:
        if not self.complete_attribute:
            return
        ds = self._read(dataset_id)
        if ds is None:
            raise CatalogueError(f"Dataset {dataset_id} is not in {self.describe()}.")
        attributes = dict(ds.get("attributes") or {})
        if attributes.get(self.complete_attribute) == "complete":
            return
        attributes[self.complete_attribute] = "complete"
        self.session.call("PATCH", "/dataset/", "mark the dataset complete",
                          params={"dataset_uuid": dataset_id}, json={"attributes": attributes})
        back = self._read(dataset_id) or {}
        if (back.get("attributes") or {}).get(self.complete_attribute) != "complete":
            raise CatalogueError(f"{self.describe()} did not keep the dataset's "
                                 f"'{self.complete_attribute}' attribute; resume the job.")

    def close(self) -> None:
        self.web.close()
        self.store.close()
