"""The ICAT + IDS emulator is as strict as the real servers, python-icat's own IDS client
works against it, and our ICAT client and IDS storage speak the protocol as the servers
expect: form encoding, session refresh, error bodies mapped to plain words, restore-and-poll,
read-only IDS, CRC32 verification, answers lost on the way back."""

from __future__ import annotations

import json
import os
import threading
import time
import zlib

import pytest
import requests

from datauploader.catalogue.base import DatafileSpec, DatasetSpec
from datauploader.catalogue.icat import ICATCatalogue
from datauploader.errors import (AuthError, CatalogueError, ConfigError, InputError,
                                 PermissionDeniedError, RemoteExistsError, TransientError,
                                 UnreachableError, VerificationError, classify)
from datauploader.storage.base import TransferContext, TransferItem
from datauploader.storage.ids import IDSReadOnlyError, IDSStorage
from tests.integration.test_icat_scicat_jobs import icat_server  # noqa: F401 - fixture
from tests.servers.rclone_s3 import free_port

pytestmark = pytest.mark.integration
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def icat(icat_server):  # noqa: F811
    icat_server.control("reset")
    return icat_server


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def cat(icat):
    c = ICATCatalogue(icat.url, facility="TESTFAC")
    c.login({"username": "jdoe", "password": "secret"})
    yield c
    c.close()


def login(icat, user="jdoe", password="secret", plugin="simple") -> str:
    r = requests.post(icat.url + "/icat/session", headers=FORM, data={"json": json.dumps(
        {"plugin": plugin, "credentials": [{"username": user}, {"password": password}]})})
    assert r.status_code == 200, r.text
    return r.json()["sessionId"]


def write(icat, sid, entities):
    return requests.post(icat.url + "/icat/entityManager", headers=FORM,
                         data={"sessionId": sid, "entities": json.dumps(entities)})


def search(icat, sid, query):
    return requests.get(icat.url + "/icat/entityManager",
                        params={"sessionId": sid, "query": query})


def one_id(icat, sid, query) -> int:
    (row,) = search(icat, sid, query).json()
    return next(iter(row.values()))["id"]


# ------------------------------------------------------------------------- the emulator
def test_login_is_form_encoded_and_errors_have_icat_shapes(icat):
    url = icat.url + "/icat/session"
    body = {"plugin": "simple", "credentials": [{"username": "jdoe"}, {"password": "secret"}]}
    assert requests.post(url, json=body).status_code == 415  # not a form
    r = requests.post(url, headers=FORM, data={"other": "x"})
    assert (r.status_code, r.json()) == (400, {"code": "BAD_PARAMETER",
                                               "message": "json must not be null"})
    r = requests.post(url, headers=FORM, data={"json": json.dumps({**body, "plugin": "nope"})})
    assert r.status_code == 403 and r.json()["code"] == "SESSION"
    assert r.json()["message"] == "Authenticator mnemonic nope not recognised"
    bad = {**body, "credentials": [{"username": "jdoe"}, {"password": "wrong"}]}
    r = requests.post(url, headers=FORM, data={"json": json.dumps(bad)})
    assert r.status_code == 403 and r.json()["code"] == "SESSION"
    sid = login(icat)
    info = requests.get(f"{url}/{sid}").json()
    assert info["userName"] == "simple/jdoe" and 119 < info["remainingMinutes"] <= 120
    assert requests.put(f"{url}/{sid}").status_code == 204
    assert requests.delete(f"{url}/{sid}").status_code == 204
    r = requests.get(f"{url}/{sid}")
    assert r.status_code == 403 and r.json()["code"] == "SESSION"


def test_writes_are_strict_and_transactional(icat):
    sid = login(icat)
    inv = one_id(icat, sid, "SELECT i FROM Investigation i WHERE i.name = 'MX-1'")
    raw = one_id(icat, sid, "SELECT t FROM DatasetType t WHERE t.name = 'raw'")
    good = {"investigation": {"id": inv}, "type": {"id": raw}, "name": "d", "complete": False}

    r = write(icat, sid, [{"Dataset": {**good, "colour": "red"}}])
    assert (r.status_code, r.json()["code"]) == (400, "BAD_PARAMETER")
    assert r.json()["message"] == "Field colour not found in Dataset" and r.json()["offset"] == 0
    r = write(icat, sid, [{"Dataset": {**good, "startDate": "2024-05-01 10:00"}}])
    assert r.status_code == 400 and "Badly formatted date" in r.json()["message"]
    r = write(icat, sid, [{"Dataset": {k: v for k, v in good.items() if k != "name"}}])
    assert r.status_code == 412 and r.json() == {"code": "VALIDATION", "offset": 0,
                                                 "message": "Dataset: name cannot be null."}
    r = write(icat, sid, [{"Dataset": {**good, "description": "x" * 256}}])
    assert r.status_code == 412 and "cannot have length > 255" in r.json()["message"]
    # all or nothing: the second entity fails, the first is not kept either
    r = write(icat, sid, [{"Dataset": good}, {"Dataset": good}])
    assert r.status_code == 412 and r.json()["code"] == "OBJECT_ALREADY_EXISTS"
    assert r.json()["offset"] == 1 and icat.datasets() == []
    r = write(icat, sid, [{"Dataset": good}])
    assert r.status_code == 200 and isinstance(r.json()[0], int)
    # another user's investigation: not visible, not writable
    sid2 = login(icat, "other", "secret2")
    assert search(icat, sid2, "SELECT ds FROM Dataset ds").json() == []
    r = write(icat, sid2, [{"Datafile": {"dataset": {"id": r.json()[0]}, "name": "x"}}])
    assert (r.status_code, r.json()["code"]) == (403, "INSUFFICIENT_PRIVILEGES")


def test_queries_take_icat_jpql_with_include_and_limit(icat):
    sid = login(icat)
    rows = search(icat, sid, "SELECT i FROM Investigation i JOIN i.investigationUsers AS iu "
                             "JOIN iu.user u WHERE u.name = 'simple/jdoe' ORDER BY i.name "
                             "INCLUDE i.facility LIMIT 0, 1").json()
    assert [r["Investigation"]["name"] for r in rows] == ["MX-1"]
    assert rows[0]["Investigation"]["facility"]["name"] == "TESTFAC"
    assert "createTime" in rows[0]["Investigation"] and "investigationUsers" not in rows[0]["Investigation"]
    assert search(icat, sid, "SELECT COUNT(i) FROM Investigation i").json() == [2]
    assert search(icat, sid, "SELECT i.name FROM Investigation i WHERE i.title LIKE '%sulin%'"
                  ).json() == ["MX-2"]
    r = search(icat, sid, "SELECT i FROM Investigation i WHERE i.nonsense = 1")
    assert r.status_code == 400 and r.json()["code"] == "BAD_PARAMETER"
    r = requests.get(icat.url + "/icat/entityManager", params={"query": "SELECT i FROM Investigation i"})
    assert r.status_code == 403 and r.json()["code"] == "SESSION"


# ------------------------------------------------------------------------- the client
def test_login_fields_come_from_the_servers_authenticators(icat):
    cat = ICATCatalogue(icat.url)
    fields = cat.credential_fields()
    # admin-only (db) and key-less (anon) authenticators are not offered
    assert [(f.name, f.choices, f.secret, f.required) for f in fields] == [
        ("authenticator", ("simple", "ldap"), False, False), ("username", (), False, True),
        ("password", (), True, True)]
    only = ICATCatalogue(icat.url, authenticators="ldap", authenticator="ldap")
    assert only.credential_fields()[0].choices == ("ldap",)
    assert only.login({"username": "asmith", "password": "ldap-pw"}) == "ldap/asmith"
    with pytest.raises(AuthError, match="did not accept the credentials"):
        cat.login({"authenticator": "simple", "username": "jdoe", "password": "wrong"})
    with pytest.raises(AuthError, match="needs your password"):
        cat.login({"authenticator": "simple", "username": "jdoe"})
    only.close()
    cat.close()


def test_session_is_refreshed_before_it_would_expire(icat):
    clock = FakeClock()
    cat = ICATCatalogue(icat.url, facility="TESTFAC", clock=clock)
    cat.login({"username": "jdoe", "password": "secret"})  # 120 minutes
    for _ in range(3):  # 3 × 70 minutes: expired long ago without refreshes
        clock.t += 70 * 60
        icat.control("clock", advance=70 * 60)
        assert [i.proposal for i in cat.investigations()] == ["MX-1", "MX-2"]
    assert len(icat.calls(r"/icat/session/.+", "PUT")) == 3
    cat.close()
    assert icat.calls(r"/icat/session/.+", "DELETE")  # logged out


def test_an_expired_session_asks_for_a_login_without_leaking_it(icat, cat):
    icat.control("sessions", expire_all=True)
    with pytest.raises(AuthError) as e:
        cat.investigations()
    assert "log in again" in e.value.message and cat.session.session_id not in str(e.value)
    assert "Session id:…" in e.value.message


def test_faults_and_refusals_become_our_errors(icat, cat):
    inv = cat.find_investigation("MX-1")
    spec = DatasetSpec(name="D", dataset_key="du-k", description="x" * 300)
    with pytest.raises(CatalogueError, match="description cannot have length > 255"):
        cat.create_dataset(inv.id, spec)
    with pytest.raises(CatalogueError, match="no dataset parameter type named 'colour'"):
        cat.create_dataset(inv.id, DatasetSpec(name="D", dataset_key="k", metadata={"colour": "red"}))
    with pytest.raises(InputError, match="must be a number in keV"):
        cat.create_dataset(inv.id, DatasetSpec(name="D", dataset_key="k",
                                               metadata={"energy_keV": "high"}))
    ds = cat.create_dataset(inv.id, DatasetSpec(name="D", dataset_key="du-k"))
    cat.finalize_dataset(ds.id)  # complete: the rules refuse more files
    f = DatafileSpec("a.dat", 1, "00", "sha256", "s3://b/a.dat", time.time())
    with pytest.raises(PermissionDeniedError, match="does not allow you to register 1 files"):
        cat.register_datafiles(ds.id, [f])
    icat.control("fault", method="GET", path="/icat/entityManager", status=503, count=1)
    with pytest.raises(TransientError):
        cat.investigations()
    dead = ICATCatalogue(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(UnreachableError, match="refused the connection"):
        dead.credential_fields()


def test_a_lost_answer_registers_nothing_twice(icat, cat):
    inv = cat.find_investigation("MX-1")
    ds = cat.create_dataset(inv.id, DatasetSpec(name="D", dataset_key="du-k"))
    files = [DatafileSpec(f"f{i}", i, f"{i:064x}", "sha256", f"s3://b/f{i}", time.time())
             for i in range(4)]
    icat.control("fault", method="POST", path="/icat/entityManager", lose_answer=True)
    with pytest.raises(TransientError):
        cat.register_datafiles(ds.id, files)  # stored, but we cannot know
    ids = cat.register_datafiles(ds.id, files)  # the engine's retry
    assert sorted(int(i) for i in ids) == sorted(f["id"] for f in icat.datafiles())
    assert len(icat.datafiles()) == 4
    # same name, other content: refused, not replaced
    other = DatafileSpec("f1", 1, "ff" * 32, "sha256", "s3://b/f1", time.time())
    with pytest.raises(CatalogueError, match="other content"):
        cat.register_datafiles(ds.id, [other])


# ------------------------------------------------------------------------- IDS
class Ctx(TransferContext):
    def __init__(self):
        self.cancel = threading.Event()
        self.bytes = 0

    def sent(self, n):
        self.bytes += n


def item_for(path, key, task=1):
    return TransferItem(task_id=task, path=str(path), key=key, size=os.path.getsize(path),
                        algorithm="sha256", job_uuid="job")


@pytest.fixture
def ids(icat, cat):
    inv = cat.find_investigation("MX-1")
    ds = cat.create_dataset(inv.id, DatasetSpec(name="D", dataset_key="du-k"))
    storage = IDSStorage(cat.session)
    storage.use_dataset("MX-1/D", ds.id)
    yield storage, ds
    storage.close()


def test_python_icat_ids_client_puts_and_gets_through_the_emulator(icat, cat, ids, tmp_path):
    from icat.ids import DataSelection, IDSClient

    storage, ds = ids
    client = IDSClient(icat.url + "/ids/", sessionId=cat.session_id())
    client.ping()
    assert not client.isReadOnly() and client.isTwoLevel()
    content = os.urandom(70_000)
    src = tmp_path / "greet.txt"
    src.write_bytes(content)
    fmt = cat.session.datafile_format_id()
    with open(src, "rb") as f:  # python-icat sends chunked and checks the CRC32 IDS answers
        df_id = client.put(f, "greet.txt", int(ds.id), fmt, datafileModTime=1700000000000)
    (df,) = icat.datafiles()
    assert df["id"] == df_id and int(df["checksum"], 16) == zlib.crc32(content)
    assert df["fileSize"] == len(content) and df["datafileModTime"].startswith("2023-11-14T22:13:20")
    sel = DataSelection({"datafileIds": [df_id]})
    assert client.getData(sel).read() == content
    assert client.getStatus(DataSelection({"datasetIds": [int(ds.id)]})) == "ONLINE"

    # and the other way round: our storage puts, python-icat gets it back
    mine = tmp_path / "mine.bin"
    mine.write_bytes(os.urandom(9 << 20))  # above the whole-file threshold: streamed
    result = storage.upload(item_for(mine, "MX-1/D/run/mine.bin"), Ctx())
    assert result.verified_by == "ids-crc32+size" and result.size == 9 << 20
    new = next(f for f in icat.datafiles() if f["name"] == "run/mine.bin")
    assert new["location"] == result.location
    assert client.getData(DataSelection({"datafileIds": [new["id"]]})).read() == mine.read_bytes()
    assert storage.read_checksum("MX-1/D/run/mine.bin", "sha256")[0] == result.checksum


def test_ids_put_is_strict_like_ids(icat, cat, ids):
    storage, ds = ids
    sid = cat.session_id()
    url = icat.url + "/ids/put"
    octet = {"Content-Type": "application/octet-stream"}
    r = requests.put(url, params={"sessionId": sid, "name": "x", "datasetId": ds.id},
                     data=b"1", headers=octet)
    assert r.status_code == 400 and r.json() == {
        "code": "BadRequestException", "message": "The datafileFormatId parameter must be set"}
    r = requests.put(url, params={"sessionId": sid, "name": "x", "datasetId": "D",
                                  "datafileFormatId": "1"}, data=b"1", headers=octet)
    assert r.json()["message"] == "The datasetId parameter must be numeric"
    r = requests.put(url, params={"sessionId": "nope", "name": "x", "datasetId": ds.id,
                                  "datafileFormatId": "1"}, data=b"1", headers=octet)
    assert r.status_code == 400 and "not a valid UUID" in r.json()["message"]


def test_archived_dataset_is_restored_then_the_put_goes_through(icat, ids, tmp_path):
    storage, ds = ids
    icat.control("archive", dataset_id=int(ds.id), restore_polls=3)
    f = tmp_path / "a.dat"
    f.write_bytes(b"archived data")
    result = storage.upload(item_for(f, "MX-1/D/a.dat"), Ctx())
    assert result.size == 13
    puts = icat.calls("/ids/put", "PUT")
    assert [c["status"] for c in puts] == [503, 201]  # DataNotOnlineException, then stored
    assert icat.calls("/ids/restore", "POST") and len(icat.calls("/ids/getStatus")) >= 3


def test_read_only_ids_is_reported_before_anything_moves(icat, ids, tmp_path):
    storage, _ = ids
    storage.check()
    icat.control("ids", read_only=True)
    with pytest.raises(IDSReadOnlyError, match="read-only: it accepts no uploads"):
        storage.check()
    f = tmp_path / "a.dat"
    f.write_bytes(b"x")
    with pytest.raises(IDSReadOnlyError):  # 501 NotImplementedException on put
        storage.upload(item_for(f, "MX-1/D/a.dat"), Ctx())


def test_a_wrong_crc32_from_ids_is_caught_and_the_copy_deleted(icat, ids, tmp_path):
    storage, ds = ids
    f = tmp_path / "a.dat"
    f.write_bytes(b"some bytes")
    # a 201 that reports another checksum than the one of what was sent
    icat.control("fault", method="PUT", path="/ids/put", status=201,
                 body={"id": 4242, "checksum": 1, "location": "x", "size": 10})
    with pytest.raises(VerificationError, match="CRC32"):
        storage.upload(item_for(f, "MX-1/D/a.dat"), Ctx())
    assert icat.calls("/ids/delete", "DELETE")  # the bad copy (ours: its id) is removed


def test_a_put_whose_answer_is_lost_is_not_stored_twice(icat, ids, tmp_path):
    storage, ds = ids
    f = tmp_path / "a.dat"
    f.write_bytes(os.urandom(5000))
    icat.control("fault", method="PUT", path="/ids/put", lose_answer=True)
    item = item_for(f, "MX-1/D/a.dat")
    with pytest.raises(TransientError):
        storage.upload(item, Ctx())
    result = storage.upload(item, Ctx())  # the engine's retry: IDS says it exists; proven same
    assert result.skipped and "crc32" in result.verified_by
    assert len(icat.datafiles()) == 1


def test_investigations_are_created_only_where_allowed(icat):
    cat = ICATCatalogue(icat.url, facility="TESTFAC", create_investigations=True)
    cat.login({"username": "jdoe", "password": "secret"})
    with pytest.raises(PermissionDeniedError, match="CREATE access to this Investigation"):
        cat.create_investigation("MX-NEW", "A new beamtime")  # the rules say no
    icat.control("seed", creators=["simple/jdoe"])
    inv = cat.create_investigation("MX-NEW", "A new beamtime")
    assert (inv.proposal, inv.title) == ("MX-NEW", "A new beamtime")
    assert "MX-NEW" in [i.proposal for i in cat.investigations()]  # the creator takes part
    cat.close()
    closed = ICATCatalogue(icat.url, facility="TESTFAC")
    assert not closed.can_create_investigations
    with pytest.raises(PermissionDeniedError, match="does not let this tool create one"):
        closed.create_investigation("MX-NEW2")


# ------------------------------------------------------------------------- real ICAT's ways
def test_a_join_repeats_rows_as_in_icat_and_our_list_is_distinct(icat, cat):
    sid = cat.session_id()
    q = ("SELECT i FROM Investigation i JOIN i.investigationUsers iu JOIN iu.user u "
         "WHERE u.name = 'simple/jdoe' ORDER BY i.name")
    names = [r["Investigation"]["name"] for r in search(icat, sid, q).json()]
    assert names == ["MX-1", "MX-1", "MX-2"]  # jdoe has two roles in MX-1
    distinct = search(icat, sid, q.replace("SELECT i", "SELECT DISTINCT i")).json()
    assert [r["Investigation"]["name"] for r in distinct] == ["MX-1", "MX-2"]
    assert [i.proposal for i in cat.investigations()] == ["MX-1", "MX-2"]


def test_read_rules_that_empty_the_list_are_explained(icat, cat):
    icat.control("rules", unreadable=["InvestigationUser"])  # a facility's missing rule
    sid = cat.session_id()
    assert search(icat, sid, "SELECT i FROM Investigation i JOIN i.investigationUsers iu "
                             "JOIN iu.user u WHERE u.name = 'simple/jdoe'").json() == []
    with pytest.raises(CatalogueError, match="rules must let you read Investigation, "
                                             "InvestigationUser and User"):
        cat.investigations()
    assert cat.find_investigation("MX-1") is not None  # typing the name still works


def test_authenticators_are_shown_by_their_friendly_names(icat):
    cat = ICATCatalogue(icat.url)
    (kind, *_) = cat.credential_fields()
    assert kind.choices == ("simple", "ldap")
    assert [kind.label_of(c) for c in kind.choices] == ["Facility account", "Institute (LDAP)"]
    # the friendly name chosen in a form logs in with its mnemonic
    assert cat.login({"authenticator": "Institute (LDAP)", "username": "asmith",
                      "password": "ldap-pw"}) == "ldap/asmith"
    cat.close()


def test_an_unknown_url_is_a_configuration_error_not_a_retry(icat, cat, ids):
    storage, _ = ids
    r = requests.get(icat.url + "/icat/nonsense")
    assert (r.status_code, r.json()["code"]) == (501, "NOT_IMPLEMENTED")
    wrong = ICATCatalogue(icat.url + "/icat")  # a url that already ends in /icat
    with pytest.raises(ConfigError, match="does not implement /icat/icat/properties") as e:
        wrong.credential_fields()
    assert classify(e.value) == "fatal" and "check the 'url'" in str(e.value)
    bad_ids = IDSStorage(cat.session, url=icat.url + "/ids")
    with pytest.raises(ConfigError, match="IDS .* does not implement /ids/ids/ping"):
        bad_ids.check()
    assert len(icat.calls("/ids/ids/ping")) == 1  # asked once, not retried
    bad_ids.close()


def test_python_icat_ids_client_uses_the_rest_of_the_api(icat, cat, ids, tmp_path):
    from icat.ids import DataSelection, IDSClient

    storage, ds = ids
    content = os.urandom(50_000)
    src = tmp_path / "d.bin"
    src.write_bytes(content)
    storage.upload(item_for(src, "MX-1/D/d.bin"), Ctx())
    (df,) = icat.datafiles()
    client = IDSClient(icat.url + "/ids/", sessionId=cat.session_id())
    sel = DataSelection({"datasetIds": [int(ds.id)]})
    assert client.getSize(sel) == len(content)
    assert client.getDatafileIds(sel) == [df["id"]]
    assert client.getIcatUrl() == icat.url
    one = DataSelection({"datafileIds": [df["id"]]})
    assert client.getData(one, offset=1000).read() == content[1000:]  # Range: bytes=1000-
    prepared = client.prepareData(one)
    assert client.isPrepared(prepared) and client.getSize(prepared) == len(content)
    assert client.getData(prepared).read() == content
    assert client.getStatus(prepared) == "ONLINE"
    client.write(sel)
    client.reset(sel)
    client.archive(sel)
    assert client.getStatus(sel) == "ARCHIVED"
    client.restore(sel)
    root = IDSClient(icat.url + "/ids/", sessionId=login(icat, "root", "rootpw", "db"))
    assert root.getServiceStatus()["opsQueue"]
    from icat.exception import IDSInsufficientPrivilegesError
    with pytest.raises(IDSInsufficientPrivilegesError):
        client.getServiceStatus()  # only IDS's root users may ask


def _raw_put(icat, sid, ds_id, name, header: bytes, body: bytes) -> None:
    """A PUT whose connection closes after ``body`` (less than it declared)."""
    import socket
    from urllib.parse import urlencode, urlsplit

    fmt = one_id(icat, sid, "SELECT f FROM DatafileFormat f WHERE f.name = 'other'")
    query = urlencode({"sessionId": sid, "name": name, "datasetId": ds_id,
                       "datafileFormatId": fmt})
    u = urlsplit(icat.url)
    with socket.create_connection((u.hostname, u.port)) as s:
        s.sendall(f"PUT /ids/put?{query} HTTP/1.1\r\nHost: {u.netloc}\r\n".encode() + header
                  + b"Content-Type: application/octet-stream\r\n\r\n" + body)
        s.shutdown(socket.SHUT_WR)  # the client is gone: no more bytes
        s.recv(1000)


def test_a_truncated_put_is_rejected_and_stores_nothing(icat, cat, ids):
    _, ds = ids
    sid = cat.session_id()
    _raw_put(icat, sid, ds.id, "cut.bin", b"Content-Length: 1000\r\n", b"x" * 400)
    _raw_put(icat, sid, ds.id, "cut2.bin", b"Transfer-Encoding: chunked\r\n",
             b"190\r\n" + b"y" * 400 + b"\r\n")  # no last chunk
    assert icat.datafiles() == []
    assert [bool(c.get("truncated")) for c in icat.calls("/ids/put")] == [True, True]


def test_a_partial_copy_of_ours_in_ids_ends_in_a_correct_datafile(icat, cat, ids, tmp_path):
    from icat.ids import IDSClient

    storage, ds = ids
    content = os.urandom(300_000)
    src = tmp_path / "big.bin"
    src.write_bytes(content)
    # what an interrupted put left in an IDS that kept the bytes it got: our file's start
    client = IDSClient(icat.url + "/ids/", sessionId=cat.session_id())
    fmt = cat.session.datafile_format_id()
    partial = tmp_path / "partial"
    partial.write_bytes(content[:123_456])
    with open(partial, "rb") as f:
        client.put(f, "run/big.bin", int(ds.id), fmt)
    item = item_for(src, "MX-1/D/run/big.bin")
    remote = storage.existing("MX-1/D")["MX-1/D/run/big.bin"]
    assert remote.size == 123_456
    result = storage.adopt(item, remote, Ctx())  # the resumed job finds it
    assert not result.skipped and result.size == len(content)
    (df,) = icat.datafiles()
    assert df["fileSize"] == len(content) and int(df["checksum"], 16) == zlib.crc32(content)
    assert icat.ids_bytes(df["location"]) == content
    # someone else's different file of that name is still never replaced
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(400_000))
    with pytest.raises(RemoteExistsError, match="other content"):
        storage.adopt(item_for(other, "MX-1/D/run/big.bin"),
                      storage.existing("MX-1/D")["MX-1/D/run/big.bin"], Ctx())
    assert icat.ids_bytes(icat.datafiles()[0]["location"]) == content
