"""The facilities' own clients read back what DataUploader registered: the proof that a real
server's users (and their tools) see the datasets as we meant them.

* SciCat with v4 routes (backend 4.12 and later): scitacean's
  ``Client.from_token(...).get_dataset(pid, attachments=True, strict_validation=True)``;
* SciCat v3 (older servers): pyscicat's ``ScicatClient`` (``datasets_get_one``,
  ``datasets_origdatablocks_get_one``, ``datasets_find`` through ``fullquery``), the dataset
  and its files validated with pyscicat's own models;
* IDS: python-icat's ``IDSClient`` (getSize, getStatus, getDatafileIds, getData by
  selection and by preparedId) with the CRC32 IDS stores.

Each function raises (an assertion or the client's own error) when what the client reads
differs from ``expected``: {path in the dataset: bytes}.
"""

from __future__ import annotations

import hashlib
import zlib

import requests


def scicat_token(url: str, user: str = "jdoe", password: str = "secret") -> str:
    r = requests.post(url + "/api/v3/auth/ldap", json={"username": user, "password": password},
                      timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


def scitacean_reads(url: str, pid: str, expected: dict[str, bytes], *, token: str | None = None,
                    thumbnail: bool = True, check_files: bool = True):
    """scitacean, strict validation: the dataset, its files (size, sha256) and thumbnail."""
    from scitacean import Client

    client = Client.from_token(url=url + "/api", token=token or scicat_token(url),
                               allow_http=True)
    ds = client.get_dataset(pid, attachments=True, strict_validation=True)
    if not check_files:
        return ds
    files = {f.remote_path.posix: f for f in ds.files}
    assert sorted(files) == sorted(expected), (sorted(files), sorted(expected))
    for path, content in expected.items():
        f = files[path]
        assert f.size == len(content), path
        assert f.checksum_algorithm == "sha256" and \
            f.checksum() == hashlib.sha256(content).hexdigest(), path
    assert ds.size == sum(len(c) for c in expected.values())  # the dataset's own figure
    assert ds.number_of_files == len(expected)
    if thumbnail:
        assert ds.attachments and ds.attachments[0].thumbnail is not None
    return ds


def pyscicat_reads(url: str, pid: str, expected: dict[str, bytes], name: str, *,
                   token: str | None = None):
    """pyscicat (v3 routes): the dataset, its origdatablocks and a fullquery search."""
    from pyscicat.client import ScicatClient
    from pyscicat.model import DataFile, RawDataset

    client = ScicatClient(base_url=url + "/api/v3", token=token or scicat_token(url))
    doc = client.datasets_get_one(pid)
    ds = RawDataset(**doc)  # pyscicat's own model of a raw dataset
    assert ds.datasetName == name and ds.size == sum(len(c) for c in expected.values())
    assert ds.numberOfFiles == len(expected)
    # pyscicat's OrigDatablock model declares chkAlg an integer (the backend: a string), so
    # the blocks are checked here and their files with pyscicat's DataFile model
    blocks = client.datasets_origdatablocks_get_one(pid)
    assert {b["chkAlg"] for b in blocks} == {"sha256"} and all(b["datasetId"] == pid
                                                               for b in blocks)
    got = {f.path: f for b in blocks for f in (DataFile(**x) for x in b["dataFileList"])}
    assert sorted(got) == sorted(expected)
    for path, content in expected.items():
        assert got[path].size == len(content) and \
            got[path].chk == hashlib.sha256(content).hexdigest(), path
    found = client.datasets_find(query_fields={"text": name})
    assert pid in [d["pid"] for d in found]
    return doc


def ids_reads(url: str, session_id: str, dataset_id: int, expected: dict[str, bytes],
              datafiles: list[dict]):
    """python-icat's IDSClient: sizes, status, ids and the bytes of each of our datafiles,
    and the CRC32 IDS recorded (bare hex) for each."""
    from icat.ids import DataSelection, IDSClient

    client = IDSClient(url + "/ids/", sessionId=session_id)
    dataset = DataSelection({"datasetIds": [dataset_id]})
    assert client.getSize(dataset) == sum(len(c) for c in expected.values())
    assert client.getStatus(dataset) == "ONLINE"
    by_name = {f["name"]: f for f in datafiles}
    assert sorted(by_name) == sorted(expected)
    assert sorted(client.getDatafileIds(dataset)) == sorted(f["id"] for f in datafiles)
    for name, content in expected.items():
        df = by_name[name]
        one = DataSelection({"datafileIds": [df["id"]]})
        assert client.getSize(one) == len(content), name
        assert client.getData(one).read() == content, name
        assert int(df["checksum"], 16) == zlib.crc32(content), name
    prepared = client.prepareData(DataSelection({"datafileIds": [datafiles[0]["id"]]}))
    assert client.isPrepared(prepared)
    assert client.getData(prepared).read() == expected[datafiles[0]["name"]]
