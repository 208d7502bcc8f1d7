"""What an etiket dataset is made of, and the limits checked before anything is sent.

etiket's own fields come from the dataset's metadata under their names (``alt_uid``,
``ranking``, ``collection``; ``thumbnail`` names the picture, as for SciCat); every other
metadata entry is one of the dataset's ``attributes``. The limits are those of etiket's data
model: attributes are string keys with string values, each of 2 to 20 characters (as are the
keywords), a name 1 to 100 characters, an ``alt_uid`` 5 to 80 and never the dataset's uuid, a
collection's name 2 to 255, the ranking a whole number.
"""

from __future__ import annotations

import uuid as uuidlib
from urllib.parse import urlsplit

from datauploader.catalogue.base import DatafileRecord, DatasetField, DatasetRecord, DatasetSpec
from datauploader.errors import InputError

FIELDS = (
    DatasetField("alt_uid", "Alternative id", "your own unique id of the dataset in the scope "
                 "(5 to 80 characters), e.g. the measurement's run id"),
    DatasetField("ranking", "Ranking", "a whole number; etiket lists datasets above a ranking",
                 kind="integer"),
    DatasetField("collection", "Collection", "the collection of the scope the dataset joins "
                 "(made if missing), where the server has collections"),
)
THUMBNAIL_KEY = "thumbnail"
RESERVED = {f.name for f in FIELDS} | {THUMBNAIL_KEY}
LIMITS = {"name": (1, 100), "alt_uid": (5, 80), "attribute": (2, 20), "keyword": (2, 20),
          "collection": (2, 255)}
#: the namespace of the dataset uuids DataUploader derives from its dataset keys
NAMESPACE = uuidlib.UUID("6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b")


def dataset_uuid(dataset_key: str) -> str:
    """The dataset's uuid, derived from the job's dataset key: a create whose answer was lost,
    a resume, a re-run all find the same dataset, never a second one."""
    return str(uuidlib.uuid5(NAMESPACE, dataset_key))


def _within(what: str, value: str, limit: str) -> None:
    low, high = LIMITS[limit]
    if not low <= len(value) <= high:
        raise InputError(f"etiket takes {what} of {low} to {high} characters; '{value}' has "
                         f"{len(value)}. Change it before the upload.")


def fields(spec: DatasetSpec) -> tuple[dict, dict[str, str]]:
    """(etiket's own fields, attributes) of a dataset; raises InputError for what etiket would
    refuse, naming the field and the rule."""
    _within("a dataset name", spec.name, "name")
    meta = {str(k): "" if v is None else str(v) for k, v in (spec.metadata or {}).items()}
    own: dict = {}
    alt = meta.get("alt_uid", "").strip()
    if alt:
        _within("an alt_uid", alt, "alt_uid")
        own["alt_uid"] = alt
    ranking = meta.get("ranking", "").strip()
    try:
        own["ranking"] = int(ranking) if ranking else 0
    except ValueError:
        raise InputError(f"etiket's ranking is a whole number, not '{ranking}'.") from None
    collection = meta.get("collection", "").strip()
    if collection:
        _within("a collection name", collection, "collection")
        own["collection"] = collection
    for k in spec.keywords:
        _within("keywords", k, "keyword")
    attributes = {k: v for k, v in meta.items() if k not in RESERVED}
    for k, v in attributes.items():
        _within("attribute names", k, "attribute")
        _within(f"attribute values (of '{k}')", v, "attribute")
    return own, attributes


def dataset_body(spec: DatasetSpec, ds_uuid: str, scope_uuid: str, creator: str,
                 collected: str) -> dict:
    own, attributes = fields(spec)
    if own.get("alt_uid") == ds_uuid:
        raise InputError("etiket needs an alt_uid other than the dataset's own uuid.")
    return {"uuid": ds_uuid, "alt_uid": own.get("alt_uid"), "collected": collected,
            "name": spec.name, "creator": creator, "description": spec.description or None,
            "notes": None, "keywords": list(spec.keywords), "ranking": own["ranking"],
            "scope_uuid": scope_uuid, "attributes": attributes}


def location_of(location: str) -> tuple[str, str, int] | None:
    """(dataset uuid, file uuid, version id) of an etiket storage location
    ``etiket://host/datasets/<ds>/files/<uuid>/<version>``; None for any other."""
    parts = urlsplit(location)
    segs = parts.path.strip("/").split("/")
    if parts.scheme != "etiket" or len(segs) != 5 or segs[0] != "datasets" or segs[2] != "files":
        return None
    try:
        return segs[1], segs[3], int(segs[4])
    except ValueError:
        return None


def record(ds: dict, netloc: str, complete_attribute: str,
           dataset_key: str | None = None) -> DatasetRecord:
    """Our view of a dataset as etiket answers it (thumbnails and versions not yet secured are
    no datafiles; of several secured versions of a name, the newest counts)."""
    attributes = dict(ds.get("attributes") or {})
    done = attributes.pop(complete_attribute, None) == "complete" if complete_attribute else False
    newest: dict[str, dict] = {}
    for f in ds.get("files") or []:
        if f.get("status") != "secured" or f.get("name", "").startswith("__thumbnail_"):
            continue
        have = newest.get(f["name"])
        if have is None or int(f["version_id"]) > int(have["version_id"]):
            newest[f["name"]] = f
    files = tuple(DatafileRecord(
        f"{f['uuid']}:{f['version_id']}", name, int(f.get("size") or 0), f.get("md5_checksum"),
        "md5", f"etiket://{netloc}/datasets/{ds['uuid']}/files/{f['uuid']}/{f['version_id']}")
        for name, f in sorted(newest.items()))
    scope = ds.get("scope") or {}
    metadata = dict(attributes)
    for name in ("alt_uid", "ranking"):
        if ds.get(name) not in (None, ""):
            metadata[name] = str(ds[name])
    return DatasetRecord(
        id=str(ds["uuid"]), investigation_id=str(scope.get("uuid") or scope.get("uid") or ""),
        name=ds.get("name", ""), complete=done, dataset_key=dataset_key,
        description=ds.get("description") or "", dataset_type="raw",
        keywords=tuple(ds.get("keywords") or ()), metadata=metadata,
        location=f"etiket://{netloc}/datasets/{ds['uuid']}", datafiles=files)
