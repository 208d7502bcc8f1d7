"""The openBIS emulator's data and its V3 DTOs as the application server sends them.

Entities are plain dicts; ``Out`` turns them into DTO JSON the way openBIS's Jackson does:
every object carries its ``@type`` and the ``fetchOptions`` it was fetched with, relations
that were not fetched are ``null``, and an object met a second time in one answer (the same
entity with the same fetch options) is only its ``@id`` number, which clients resolve (pybis
``parse_jackson``). Dates are milliseconds since the epoch.

Rights follow openBIS's roles: INSTANCE_ADMIN everywhere; SPACE_ADMIN/SPACE_USER on a space
may create data sets in its collections and objects; SPACE_OBSERVER (and PROJECT_OBSERVER)
only read. External data management systems are created by instance admins only.
"""

from __future__ import annotations

import json

WRITE_ROLES = ("SPACE_ADMIN", "SPACE_POWER_USER", "SPACE_USER")
READ_ROLES = WRITE_ROLES + ("SPACE_OBSERVER",)


class RpcError(Exception):
    """An exception the server answers as a JSON-RPC error (HTTP 200)."""

    def __init__(self, message: str, java: str = "ch.systemsx.cisd.common.exceptions."
                                                  "UserFailureException"):
        super().__init__(message)
        self.message = message
        self.java = java


def not_found(id_type: str, value: str) -> RpcError:
    return RpcError(f"Object with {id_type} = [{value}] has not been found.",
                    "ch.ethz.sis.openbis.generic.asapi.v3.exceptions.ObjectNotFoundException")


def denied(user: str) -> RpcError:
    return RpcError(f"Authorization failure: ERROR: \"User '{user}' does not have enough "
                    "privileges.\".",
                    "ch.systemsx.cisd.common.exceptions.AuthorizationFailureException")


def denied_role(roles: str, user: str) -> RpcError:
    return RpcError(f"Authorization failure: None of method roles '[{roles}]' could be found in "
                    f"roles of user '{user}'.",
                    "ch.systemsx.cisd.common.exceptions.AuthorizationFailureException")


def seed_state(dss_url: str) -> dict:
    """Users, spaces, projects, collections, objects, dataset types and the data store."""
    t = 1767225600000  # 2026-01-01
    def prop(code, label, data_type, description=""):
        return {"code": code, "label": label, "dataType": data_type, "description": description}
    props = {p["code"]: p for p in (
        prop("$NAME", "Name", "VARCHAR"), prop("NOTES", "Notes", "MULTILINE_VARCHAR"),
        prop("INSTRUMENT", "Instrument", "VARCHAR"),
        prop("SAMPLE_TEMPERATURE", "Sample temperature", "REAL", "in kelvin"),
        prop("EXPOSURE_TIME", "Exposure time", "REAL", "in seconds"),
        prop("FRAMES", "Frames", "INTEGER"), prop("CALIBRATED", "Calibrated", "BOOLEAN"),
        prop("MEASURED_ON", "Measured on", "TIMESTAMP"))}
    def assign(code, mandatory=False, section="General"):
        return {"code": code, "mandatory": mandatory, "section": section}
    return {
        "t0": t,
        "users": {
            "ada": {"password": "lovelace", "roles": [("SPACE_USER", "MATERIALS"),
                                                     ("SPACE_OBSERVER", "ARCHIVE")],
                    "email": "ada@example.org", "first": "Ada", "last": "Lovelace"},
            "obs": {"password": "observer", "roles": [("SPACE_OBSERVER", "MATERIALS")],
                    "email": "obs@example.org", "first": "Otto", "last": "Observer"},
            "admin": {"password": "admin", "roles": [("INSTANCE_ADMIN", None)],
                      "email": "admin@example.org", "first": "Ina", "last": "Admin"},
        },
        "spaces": {"MATERIALS": "Materials lab", "ARCHIVE": "Old data", "HIDDEN": "Not yours"},
        "projects": {"/MATERIALS/ALLOYS": "Alloy studies", "/MATERIALS/POLYMERS": "",
                     "/ARCHIVE/OLD": "", "/HIDDEN/SECRET": ""},
        "experiments": {"/MATERIALS/ALLOYS/TENSILE": "COLLECTION",
                        "/MATERIALS/ALLOYS/XRD_2026": "COLLECTION",
                        "/MATERIALS/POLYMERS/DSC": "COLLECTION",
                        "/ARCHIVE/OLD/C1": "COLLECTION", "/HIDDEN/SECRET/S1": "COLLECTION"},
        "samples": {"/MATERIALS/ALLOYS/CU-7": ("SAMPLE", "/MATERIALS/ALLOYS/XRD_2026"),
                    "/MATERIALS/ALLOYS/CU-8": ("SAMPLE", "/MATERIALS/ALLOYS/XRD_2026"),
                    "/MATERIALS/ALLOYS/AL-1": ("SAMPLE", "/MATERIALS/ALLOYS/TENSILE")},
        "property_types": props,
        "dataset_types": {
            "RAW_DATA": {"description": "Raw data", "assignments": [
                assign("$NAME"), assign("NOTES")]},
            "XRD_DATA": {"description": "X-ray diffraction", "assignments": [
                assign("$NAME"), assign("INSTRUMENT", True),
                assign("SAMPLE_TEMPERATURE", section="Conditions"),
                assign("EXPOSURE_TIME", section="Conditions"), assign("FRAMES"),
                assign("CALIBRATED"), assign("MEASURED_ON")]},
        },
        "edms": {},
        "datasets": {},  # code → dataset
        "files": {},  # code → [DataSetFile]
        "datastore": {"code": "DSS1", "downloadUrl": dss_url, "remoteUrl": dss_url},
    }


def space_of(identifier: str) -> str:
    return identifier.strip("/").split("/")[0]


class Out:
    """One answer's serialiser: ``@id`` numbering and back-references, as Jackson does."""

    def __init__(self, state: dict):
        self.state = state
        self.n = 0
        self.seen: dict[tuple, int] = {}

    def obj(self, kind: str, key: str, fo: dict | None, build) -> dict | int:
        ref = (kind, key, json.dumps(fo, sort_keys=True))
        if ref in self.seen:
            return self.seen[ref]
        self.n += 1
        self.seen[ref] = self.n
        out = {"@type": kind, "@id": self.n}
        out.update(build())
        out["fetchOptions"] = fo
        return out

    # -- entities ---------------------------------------------------------------------------
    def person(self, user: str, fo) -> dict | int | None:
        if not fo or user not in self.state["users"]:
            return None
        u = self.state["users"][user]
        return self.obj("as.dto.person.Person", user, fo, lambda: {
            "permId": {"@type": "as.dto.person.id.PersonPermId", "permId": user},
            "userId": user, "firstName": u["first"], "lastName": u["last"], "email": u["email"],
            "registrationDate": self.state["t0"], "active": True, "space": None,
            "registrator": None, "roleAssignments": None, "webAppSettings": None})

    def space(self, code: str, fo) -> dict | int | None:
        if not fo:
            return None
        return self.obj("as.dto.space.Space", code, fo, lambda: {
            "permId": {"@type": "as.dto.space.id.SpacePermId", "permId": code}, "code": code,
            "description": self.state["spaces"][code] or None, "frozen": False,
            "frozenForProjects": False, "frozenForSamples": False,
            "registrationDate": self.state["t0"], "modificationDate": self.state["t0"],
            "registrator": self.person("admin", fo.get("registrator")),
            "projects": None, "samples": None})

    def project(self, ident: str, fo) -> dict | int | None:
        if not fo:
            return None
        sp, code = ident.strip("/").split("/")
        return self.obj("as.dto.project.Project", ident, fo, lambda: {
            "permId": {"@type": "as.dto.project.id.ProjectPermId", "permId": perm_id(ident)},
            "identifier": {"@type": "as.dto.project.id.ProjectIdentifier", "identifier": ident},
            "code": code, "description": self.state["projects"][ident] or None,
            "frozen": False, "frozenForExperiments": False, "frozenForSamples": False,
            "registrationDate": self.state["t0"], "modificationDate": self.state["t0"],
            "space": self.space(sp, fo.get("space")),
            "registrator": self.person("admin", fo.get("registrator")),
            "modifier": self.person("admin", fo.get("modifier")), "leader": None,
            "experiments": None, "samples": None, "attachments": None, "history": None})

    def entity_type(self, kind: str, code: str, fo) -> dict | int | None:
        if not fo:
            return None
        dto = {"experiment": "as.dto.experiment.ExperimentType",
               "sample": "as.dto.sample.SampleType",
               "dataset": "as.dto.dataset.DataSetType"}[kind]
        entity_kind = {"experiment": "EXPERIMENT", "sample": "SAMPLE", "dataset": "DATA_SET"}[kind]

        def build():
            out = {"permId": {"@type": "as.dto.entitytype.id.EntityTypePermId", "permId": code,
                              "entityKind": entity_kind},
                   "code": code, "description": None, "modificationDate": self.state["t0"],
                   "validationPlugin": None, "metaData": {},
                   "propertyAssignments": None}
            if kind == "dataset":
                dt = self.state["dataset_types"][code]
                out.update({"description": dt["description"], "mainDataSetPattern": None,
                            "mainDataSetPath": None, "disallowDeletion": False})
                pa = fo.get("propertyAssignments")
                if pa:
                    out["propertyAssignments"] = [
                        self.assignment(code, a, i, pa)
                        for i, a in enumerate(dt["assignments"], 1)]
            return out
        return self.obj(dto, code, fo, build)

    def assignment(self, type_code: str, a: dict, ordinal: int, fo) -> dict | int:
        def build():
            pt = self.state["property_types"][a["code"]]
            pfo = fo.get("propertyType")
            return {
                "permId": {"@type": "as.dto.property.id.PropertyAssignmentPermId",
                           "entityTypeId": {"@type": "as.dto.entitytype.id.EntityTypePermId",
                                            "permId": type_code, "entityKind": "DATA_SET"},
                           "propertyTypeId": {"@type": "as.dto.property.id.PropertyTypePermId",
                                              "permId": a["code"]}},
                "section": a["section"], "ordinal": ordinal, "mandatory": a["mandatory"],
                "showInEditView": True, "showRawValueInForms": False,
                "semanticAnnotations": None, "semanticAnnotationsInherited": False,
                "registrator": None, "registrationDate": self.state["t0"], "plugin": None,
                "entityType": None,
                "propertyType": self.obj("as.dto.property.PropertyType", a["code"], pfo, lambda: {
                    "code": pt["code"],
                    "permId": {"@type": "as.dto.property.id.PropertyTypePermId",
                               "permId": pt["code"]},
                    "label": pt["label"], "description": pt["description"] or pt["label"],
                    "managedInternally": pt["code"].startswith("$"),
                    "dataType": pt["dataType"], "vocabulary": None, "materialType": None,
                    "sampleType": None, "schema": None, "transformation": None,
                    "semanticAnnotations": None, "registrator": None,
                    "registrationDate": self.state["t0"], "metaData": {}}) if pfo else None}
        return self.obj("as.dto.property.PropertyAssignment", f"{type_code}.{a['code']}", fo,
                        build)

    def experiment(self, ident: str, fo) -> dict | int | None:
        if not fo:
            return None
        sp, pr, code = ident.strip("/").split("/")
        return self.obj("as.dto.experiment.Experiment", ident, fo, lambda: {
            "permId": {"@type": "as.dto.experiment.id.ExperimentPermId",
                       "permId": perm_id(ident)},
            "identifier": {"@type": "as.dto.experiment.id.ExperimentIdentifier",
                           "identifier": ident},
            "code": code, "frozen": False, "frozenForDataSets": False,
            "frozenForSamples": False, "registrationDate": self.state["t0"],
            "modificationDate": self.state["t0"],
            "type": self.entity_type("experiment", self.state["experiments"][ident],
                                     fo.get("type")),
            "project": self.project(f"/{sp}/{pr}", fo.get("project")),
            "properties": {"$NAME": code.title()} if fo.get("properties") else None,
            "registrator": self.person("admin", fo.get("registrator")),
            "modifier": self.person("admin", fo.get("modifier")),
            "tags": [] if fo.get("tags") else None, "attachments": None, "dataSets": None,
            "samples": None, "history": None, "metaData": {}})

    def sample(self, ident: str, fo) -> dict | int | None:
        if not fo:
            return None
        typ, exp = self.state["samples"][ident]
        parts = ident.strip("/").split("/")
        return self.obj("as.dto.sample.Sample", ident, fo, lambda: {
            "permId": {"@type": "as.dto.sample.id.SamplePermId", "permId": perm_id(ident)},
            "identifier": {"@type": "as.dto.sample.id.SampleIdentifier", "identifier": ident},
            "code": parts[-1], "frozen": False, "registrationDate": self.state["t0"],
            "modificationDate": self.state["t0"],
            "type": self.entity_type("sample", typ, fo.get("type")),
            "space": self.space(parts[0], fo.get("space")),
            "project": self.project(f"/{parts[0]}/{parts[1]}", fo.get("project"))
            if len(parts) == 3 else None,
            "experiment": self.experiment(exp, fo.get("experiment")) if exp else None,
            "properties": {"$NAME": parts[-1]} if fo.get("properties") else None,
            "registrator": self.person("admin", fo.get("registrator")),
            "modifier": self.person("admin", fo.get("modifier")),
            "tags": [] if fo.get("tags") else None, "parents": None, "children": None,
            "container": None, "components": None, "dataSets": None, "attachments": None,
            "history": None, "metaData": {}})

    def edms(self, code: str, fo) -> dict | int | None:
        if not fo:
            return None
        e = self.state["edms"][code]
        return self.obj("as.dto.externaldms.ExternalDms", code, fo, lambda: {
            "permId": {"@type": "as.dto.externaldms.id.ExternalDmsPermId", "permId": code},
            "code": code, "label": e["label"], "address": e["address"],
            "addressType": e["addressType"],
            "urlTemplate": e["address"] if e["addressType"] in ("URL", "OPENBIS") else None,
            "openbis": e["addressType"] == "OPENBIS"})

    def datastore(self, fo) -> dict | int | None:
        if not fo:
            return None
        d = self.state["datastore"]
        return self.obj("as.dto.datastore.DataStore", d["code"], fo, lambda: {
            "permId": {"@type": "as.dto.datastore.id.DataStorePermId", "permId": d["code"]},
            "code": d["code"], "downloadUrl": d["downloadUrl"], "remoteUrl": d["remoteUrl"],
            "registrationDate": self.state["t0"], "modificationDate": self.state["t0"]})

    def dataset(self, code: str, fo) -> dict | int | None:
        if not fo:
            return None
        ds = self.state["datasets"][code]

        def build():
            linked = None
            if ds["kind"] == "LINK" and fo.get("linkedData"):
                lfo = fo["linkedData"]
                efo = lfo.get("externalDms") or {
                    "@type": "as.dto.externaldms.fetchoptions.ExternalDmsFetchOptions"}
                cc = ds["contentCopies"]
                # Jackson writes linkedData.externalDms first: the copies refer back to it
                first = self.edms(cc[0]["externalDms"], efo) if cc else None
                copies = [{"@type": "as.dto.dataset.ContentCopy",
                           "id": {"@type": "as.dto.dataset.id.ContentCopyPermId",
                                  "permId": c["id"]},
                           "externalDms": self.edms(c["externalDms"], efo),
                           "externalCode": c.get("externalCode"), "path": c.get("path"),
                           "gitCommitHash": c.get("gitCommitHash"),
                           "gitRepositoryId": c.get("gitRepositoryId")} for c in cc]
                linked = {"@type": "as.dto.dataset.LinkedData", "fetchOptions": lfo,
                          "externalCode": cc[0].get("externalCode") if cc else None,
                          "externalDms": first, "contentCopies": copies}
            physical = None
            if ds["kind"] == "PHYSICAL" and fo.get("physicalData"):
                physical = {"@type": "as.dto.dataset.PhysicalData",
                            "fetchOptions": fo["physicalData"], "shareId": "1",
                            "location": f"{ds['code']}", "size": ds.get("size"),
                            "status": "AVAILABLE", "presentInArchive": False,
                            "storageConfirmation": True, "speedHint": -50,
                            "archivingRequested": False, "fileFormatType": None,
                            "locatorType": None, "storageFormat": None, "complete": "TRUE"}
            return {
                "permId": {"@type": "as.dto.dataset.id.DataSetPermId", "permId": code},
                "code": code, "frozen": False, "frozenForChildren": False,
                "frozenForParents": False, "frozenForComponents": False,
                "frozenForContainers": False, "kind": ds["kind"],
                "type": self.entity_type("dataset", ds["type"], fo.get("type")),
                "dataStore": self.datastore(fo.get("dataStore")),
                "measured": ds["measured"], "postRegistered": True,
                "physicalData": physical, "linkedData": linked,
                "experiment": self.experiment(ds["experiment"], fo.get("experiment"))
                if ds["experiment"] else None,
                "sample": self.sample(ds["sample"], fo.get("sample")) if ds["sample"] else None,
                "properties": dict(ds["properties"]) if fo.get("properties") else None,
                "materialProperties": None, "sampleProperties": None,
                "parents": [] if fo.get("parents") else None,
                "children": [] if fo.get("children") else None,
                "containers": [] if fo.get("containers") else None,
                "components": [] if fo.get("components") else None,
                "tags": [] if fo.get("tags") else None, "history": None,
                "modificationDate": ds["registered"],
                "modifier": self.person(ds["registrator"], fo.get("modifier")),
                "registrationDate": ds["registered"],
                "registrator": self.person(ds["registrator"], fo.get("registrator")),
                "dataProducer": None, "dataProductionDate": None, "accessDate": ds["registered"],
                "metaData": dict(ds.get("metaData") or {})}
        return self.obj("as.dto.dataset.DataSet", code, fo, build)


def perm_id(identifier: str) -> str:
    """A stable permId for a seeded entity (openBIS's look like 20260101000000000-12)."""
    return "20260101000000000-" + str(sum(ord(c) * (i + 1) for i, c in enumerate(identifier)))


def search_result(objects: list) -> dict:
    return {"@type": "as.dto.common.search.SearchResult", "objects": objects,
            "totalCount": len(objects)}
