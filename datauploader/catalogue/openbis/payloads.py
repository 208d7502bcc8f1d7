"""The V3 DTOs DataUploader sends to openBIS, and the fetch options and criteria it asks with.

Every DTO names its Java class in ``@type`` (openBIS deserialises with Jackson polymorphism);
ids are typed too (``ExperimentIdentifier``, ``SamplePermId``, ``EntityTypePermId`` …).
"""

from __future__ import annotations

import hashlib
import re

from datauploader.catalogue.base import DatafileSpec


def typed(kind: str, **fields) -> dict:
    return {"@type": kind, **fields}


def fetch(kind: str, **subs) -> dict:
    """``as.dto.<kind>.fetchoptions.<Kind>FetchOptions`` with sub-fetch options."""
    return {"@type": f"as.dto.{kind}", **subs}


PERSON = fetch("person.fetchoptions.PersonFetchOptions")
SPACE = fetch("space.fetchoptions.SpaceFetchOptions")
PROJECT = fetch("project.fetchoptions.ProjectFetchOptions", space=SPACE)
EXPERIMENT = fetch("experiment.fetchoptions.ExperimentFetchOptions",
                   project=PROJECT, properties=fetch("property.fetchoptions.PropertyFetchOptions"),
                   type=fetch("experiment.fetchoptions.ExperimentTypeFetchOptions"))
SAMPLE = fetch("sample.fetchoptions.SampleFetchOptions",
               experiment=fetch("experiment.fetchoptions.ExperimentFetchOptions"),
               properties=fetch("property.fetchoptions.PropertyFetchOptions"),
               type=fetch("sample.fetchoptions.SampleTypeFetchOptions"))
DATASET_TYPE = fetch("dataset.fetchoptions.DataSetTypeFetchOptions", propertyAssignments=fetch(
    "property.fetchoptions.PropertyAssignmentFetchOptions",
    propertyType=fetch("property.fetchoptions.PropertyTypeFetchOptions")))
EDMS = fetch("externaldms.fetchoptions.ExternalDmsFetchOptions")
DATASET = fetch("dataset.fetchoptions.DataSetFetchOptions",
                type=fetch("dataset.fetchoptions.DataSetTypeFetchOptions"),
                experiment=fetch("experiment.fetchoptions.ExperimentFetchOptions"),
                sample=fetch("sample.fetchoptions.SampleFetchOptions"),
                properties=fetch("property.fetchoptions.PropertyFetchOptions"),
                linkedData=fetch("dataset.fetchoptions.LinkedDataFetchOptions", externalDms=EDMS),
                physicalData=fetch("dataset.fetchoptions.PhysicalDataFetchOptions"),
                dataStore=fetch("datastore.fetchoptions.DataStoreFetchOptions"))
DATASTORE = fetch("datastore.fetchoptions.DataStoreFetchOptions")

#: the checksum types written in the DSS's path info (``<type>:<value>``)
CHECKSUM_TYPES = {"sha256": "SHA256", "md5": "MD5", "crc32": "CRC32", "adler32": "ADLER32"}


def criteria(kind: str, *subs: dict, operator: str = "AND") -> dict:
    return {"@type": f"as.dto.{kind}", "criteria": list(subs), "operator": operator}


def code_is(code: str) -> dict:
    return {"@type": "as.dto.common.search.CodeSearchCriteria", "fieldName": "code",
            "fieldType": "ATTRIBUTE",
            "fieldValue": typed("as.dto.common.search.StringEqualToValue", value=code)}


def experiment_id(identifier: str) -> dict:
    return typed("as.dto.experiment.id.ExperimentIdentifier", identifier=identifier)


def sample_id(identifier: str) -> dict:
    return typed("as.dto.sample.id.SampleIdentifier", identifier=identifier)


def dataset_id(code: str) -> dict:
    return typed("as.dto.dataset.id.DataSetPermId", permId=code)


def type_id(code: str, kind: str = "DATA_SET") -> dict:
    return typed("as.dto.entitytype.id.EntityTypePermId", permId=code, entityKind=kind)


def dataset_code(dataset_key: str) -> str:
    """Our dataset's code, from its job key: the same target always gets the same code, and
    openBIS refuses a second dataset with it, so a create repeated after a lost answer or a
    kill never makes a second one."""
    return dataset_key.upper() if re.fullmatch(r"[A-Za-z0-9_.-]+", dataset_key) else \
        "DU-" + hashlib.sha256(dataset_key.encode()).hexdigest()[:24].upper()


def edms_code(root: str) -> str:
    """The external DMS code for a storage target (one per target, reused)."""
    return "DATAUPLOADER-" + hashlib.sha256(root.encode()).hexdigest()[:12].upper()


def linked_creation(*, code: str, dataset_type: str, experiment: str, sample: str,
                    datastore: str, properties: dict, edms: str, address_type: str,
                    where: str) -> dict:
    """The DataSetCreation of a linked data set: one content copy on the external DMS
    (``where`` is the copy's external id on a URL DMS, its path on a FILE_SYSTEM one)."""
    copy = typed("as.dto.dataset.create.ContentCopyCreation",
                 externalDmsId=typed("as.dto.externaldms.id.ExternalDmsPermId", permId=edms),
                 externalId=where if address_type != "FILE_SYSTEM" else None,
                 path=("/" + where.lstrip("/")) if address_type == "FILE_SYSTEM" else None,
                 gitCommitHash=None, gitRepositoryId=None)
    return typed("as.dto.dataset.create.DataSetCreation",
                 typeId=type_id(dataset_type), dataSetKind="LINK",
                 dataStoreId=typed("as.dto.datastore.id.DataStorePermId", permId=datastore),
                 experimentId=experiment_id(experiment) if experiment else None,
                 sampleId=sample_id(sample) if sample else None,
                 code=code, autoGeneratedCode=False, measured=True, properties=properties,
                 parentIds=[], linkedData=typed("as.dto.dataset.create.LinkedDataCreation",
                                                contentCopies=[copy]))


def crc32_signed(hex_value: str) -> int:
    """openBIS keeps CRC32 as a signed 32-bit integer."""
    v = int(hex_value, 16)
    return v - (1 << 32) if v >= 1 << 31 else v


def file_metadata(files: list[DatafileSpec]) -> list[dict]:
    """The DSS's path info of each file: path in the dataset, length, CRC32 (when the job's
    checksum is one) and the job's checksum with its type."""
    out = []
    for f in files:
        alg = f.algorithm.lower()
        out.append(typed("dss.dto.datasetfile.create.DataSetFileCreation",
                         path=f.name, directory=False, fileLength=f.size,
                         checksumCRC32=crc32_signed(f.checksum) if alg == "crc32" else None,
                         checksum=f.checksum, checksumType=CHECKSUM_TYPES.get(alg, alg.upper())))
    return out


def full_creation(creation: dict, files: list[DatafileSpec]) -> dict:
    return typed("dss.dto.dataset.create.FullDataSetCreation", metadataCreation=creation,
                 fileMetadata=file_metadata(files))


def uploaded_creation(*, dataset_type: str, experiment: str, sample: str, properties: dict,
                      upload_id: str) -> dict:
    """A physical data set from the files in the session workspace under ``upload_id``."""
    return typed("dss.dto.dataset.create.UploadedDataSetCreation", typeId=type_id(dataset_type),
                 experimentId=experiment_id(experiment) if experiment and not sample else None,
                 sampleId=sample_id(sample) if sample else None, properties=properties,
                 parentIds=[], uploadId=upload_id)


def files_criteria(code: str) -> dict:
    return {"@type": "dss.dto.datasetfile.search.DataSetFileSearchCriteria", "operator": "AND",
            "criteria": [{"@type": "as.dto.dataset.search.DataSetSearchCriteria",
                          "operator": "AND", "relation": "DATASET",
                          "criteria": [{"@type": "as.dto.common.search.PermIdSearchCriteria",
                                        "fieldValue": typed(
                                            "as.dto.common.search.StringEqualToValue",
                                            value=code)}]}]}


FILES_FETCH = {"@type": "dss.dto.datasetfile.fetchoptions.DataSetFileFetchOptions"}
