"""The SciCat emulator is as strict as the backend (its DTOs from scicat-sdk-py, whitelist +
forbidNonWhitelisted, Nest's error shapes, case-insensitive routes, encoded PIDs), and our
client sends each API version exactly the fields it takes, logs in each supported way, keeps
the token out of URLs, notices an expired token and never registers a file twice."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
import requests

from datauploader.catalogue import scicat_payloads as P
from datauploader.catalogue.base import DatafileSpec, DatasetSpec
from datauploader.catalogue.scicat import SciCatCatalogue, jwt_expiry
from datauploader.errors import (AuthError, CatalogueError, ConfigError, InputError,
                                 PermissionDeniedError, TransientError)
from tests.integration.test_icat_scicat_jobs import scicat_server  # noqa: F401 - fixture
from tests.integration.test_icat_scicat_jobs import scicat_v3_server  # noqa: F401 - fixture
from tests.servers.scicat_emulator import _models, validate

pytestmark = pytest.mark.integration
JDOE = {"method": "ldap", "username": "jdoe", "password": "secret"}


@pytest.fixture
def sc(scicat_server):  # noqa: F811
    scicat_server.control("reset")
    return scicat_server


def token(sc, user="jdoe", password="secret", path="/api/v3/auth/ldap") -> str:
    r = requests.post(sc.url + path, json={"username": user, "password": password})
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


def spec(**kw) -> DatasetSpec:
    return DatasetSpec(**{"name": "D", "dataset_key": "du-k", "location": "/data/MX-1/D",
                          "keywords": ("a",), "metadata": {"energy": "12.4"}, "sample": "s1",
                          "description": "d", **kw})


def payload(version: str, **kw) -> dict:
    return P.dataset(version, spec(**kw), proposal={"proposalId": "MX-1"}, owner="John Doe",
                     owner_email="jdoe@example.org", contact_email="jdoe@example.org",
                     owner_group="p1001", access_groups=["mx-team"], pi="Ada Lovelace",
                     creation_location="/TESTFAC/BL1")


# ------------------------------------------------------------------------- payloads
def test_each_version_gets_exactly_the_fields_its_dto_takes():
    m = _models()
    v4, v3 = payload("v4"), payload("v3")
    assert validate(m["dataset_v4"], v4) == []
    assert validate(m["raw_v3"], v3) == []
    # and never a field the other version would reject
    assert "property proposalIds should not exist" in validate(m["raw_v3"], v4)
    assert "property principalInvestigator should not exist" in validate(m["dataset_v4"], v3)
    assert v4["proposalIds"] == ["MX-1"] and v4["sampleIds"] == ["s1"]
    assert v3["proposalId"] == "MX-1" and v3["principalInvestigator"] == "Ada Lovelace"
    assert v4["scientificMetadata"] == {"energy": "12.4",
                                        "datauploader": {"key": "du-k", "complete": False}}
    block = P.origdatablock("v4", "pid/1", [P.datafile_entry(
        DatafileSpec("a", 1, "ab", "sha256", "/x/a", time.time()), "a")], "sha256")
    assert validate(m["block_v4"], block) == []
    assert validate(m["block_v3"], {k: v for k, v in block.items() if k != "datasetId"}) == []
    att = P.attachment("v4", "pid/1", "data:image/png;base64,AA==", "c", "g", [])
    assert validate(m["attachment_v4"], att) == []
    assert validate(m["attachment_v3"], P.attachment("v3", "pid/1", "data:,", "c", "g", [])) == []
    with pytest.raises(InputError, match="Choose the type raw"):
        payload("v4", dataset_type="derived")


# ------------------------------------------------------------------------- the emulator
def test_unknown_fields_are_refused_with_nests_message_shape(sc):
    tok = token(sc)
    r = requests.post(sc.url + "/api/v4/datasets", headers=bearer(tok),
                      json={**payload("v4"), "colour": "red"})
    assert r.status_code == 400
    assert r.json() == {"message": ["property colour should not exist"], "error": "Bad Request",
                        "statusCode": 400}
    pid = requests.post(sc.url + "/api/v4/datasets", headers=bearer(tok),
                        json=payload("v4")).json()["pid"]
    bad_block = {"datasetId": pid, "size": 1, "dataFileList": [
        {"path": "a", "size": 1, "time": "2024-01-01T00:00:00.000Z", "colour": "x"}]}
    r = requests.post(sc.url + "/api/v4/origdatablocks", headers=bearer(tok), json=bad_block)
    assert r.status_code == 400 and r.json()["message"] == [
        "property dataFileList.0.colour should not exist"]
    r = requests.post(sc.url + "/api/v4/datasets", headers=bearer(tok),
                      json={k: v for k, v in payload("v4").items() if k != "datasetName"})
    assert r.status_code == 400 and "datasetName should not be null or undefined" in r.json()["message"]
    r = requests.post(sc.url + "/api/v3/datasets", headers=bearer(tok), json=payload("v4"))
    assert r.status_code == 400  # a v4 body is not a v3 one


def test_guards_and_logins_answer_like_the_backend(sc):
    r = requests.post(sc.url + "/api/v3/auth/login", json={"username": "jdoe", "password": "x"})
    assert (r.status_code, r.json()) == (401, {"statusCode": 401, "message": "Unauthorized"})
    r = requests.post(sc.url + "/api/v4/datasets", json={"colour": "anonymous"})
    assert r.status_code == 403  # the guard runs before validation
    assert r.json() == {"message": "Forbidden resource", "error": "Forbidden", "statusCode": 403}
    assert requests.get(sc.url + "/api/v3/auth/whoami").content == b""
    tok = token(sc)
    assert jwt_expiry(tok) > time.time() + 3000
    assert requests.get(sc.url + "/api/v3/auth/whoami", headers=bearer(tok)).json()["username"] == "jdoe"
    # a token in the URL is not a login (current servers): it must never be needed
    assert requests.get(sc.url + "/api/v3/auth/whoami", params={"access_token": tok}).content == b""
    other = dict(payload("v4"), ownerGroup="p1003")
    r = requests.post(sc.url + "/api/v4/datasets", headers=bearer(tok), json=other)
    assert r.status_code == 403 and r.json()["message"] == "Unauthorized access"


def test_routes_are_case_insensitive_and_pids_must_be_encoded(sc):
    tok = token(sc, path="/api/v3/Auth/LDAP")
    pid = requests.post(sc.url + "/api/v3/Datasets", headers=bearer(tok),
                        json=payload("v3")).json()["pid"]
    assert "/" in pid
    r = requests.get(f"{sc.url}/api/v3/datasets/{quote(pid, safe='')}", headers=bearer(tok))
    assert r.status_code == 200 and r.json()["proposalId"] == "MX-1"  # the v3 shape
    r = requests.get(f"{sc.url}/api/v4/datasets/{quote(pid, safe='')}", headers=bearer(tok))
    assert r.json()["proposalIds"] == ["MX-1"]  # the same dataset, v4 shape
    assert requests.get(f"{sc.url}/api/v3/datasets/{pid}", headers=bearer(tok)).status_code == 404


def test_an_older_server_has_no_v4(scicat_v3_server):  # noqa: F811
    scicat_v3_server.control("reset")
    tok = token(scicat_v3_server)
    r = requests.post(scicat_v3_server.url + "/api/v4/datasets", headers=bearer(tok),
                      json=payload("v4"))
    assert r.status_code == 404 and r.json()["message"] == "Cannot POST /api/v4/datasets"


# ------------------------------------------------------------------------- the client
def test_each_login_method(sc):
    cat = SciCatCatalogue(sc.url)
    assert [(f.name, f.choices, f.secret) for f in cat.credential_fields()] == [
        ("method", ("ldap", "local"), False), ("username", (), False), ("password", (), True)]
    assert cat.login(JDOE) == "jdoe"
    assert cat.login({"method": "local", "username": "ingestor", "password": "ingest-pw"}) == "ingestor"
    sc.control("routes", ldap=["msad"])  # a server with only the legacy LDAP route
    assert cat.login(JDOE) == "jdoe"
    assert [c["status"] for c in sc.calls("/api/v3/auth/(ldap|msad)")][-2:] == [404, 201]
    with pytest.raises(AuthError, match="did not accept the user name or password"):
        cat.login({**JDOE, "password": "wrong"})
    by_token = SciCatCatalogue(sc.url, auth="token")
    assert [f.name for f in by_token.credential_fields()] == ["token"]
    assert by_token.login({"token": token(sc, path="/api/v3/auth/msad")}) == "jdoe"
    with pytest.raises(AuthError, match="did not accept the token"):
        by_token.login({"token": "not-a-token"})
    with pytest.raises(ConfigError):
        SciCatCatalogue(sc.url, auth="ldap,token")
    assert not any(c.get("access_token_in_url") for c in sc.control("log"))
    cat.close()


def test_proposals_are_those_the_user_may_write_to(sc):
    sc.control("seed", proposals=[{"proposalId": "MX-9", "title": "Shared with mx-team",
                                   "ownerGroup": "p9000", "accessGroups": ["p1001"],
                                   "email": "pi9@example.org"}])
    cat = SciCatCatalogue(sc.url)
    cat.login(JDOE)
    # MX-9 is readable (accessGroups) but not writable: datasets follow the ownerGroup
    assert [i.proposal for i in cat.investigations()] == ["MX-1", "MX-2"]
    assert cat.investigations("insulin")[0].proposal == "MX-2"
    inv = cat.find_investigation("MX-9")
    with pytest.raises(PermissionDeniedError, match="Unauthorized access"):
        cat.create_dataset(inv.id, spec())
    cat.close()


def test_expired_token_asks_for_a_login(sc):
    cat = SciCatCatalogue(sc.url)
    cat.login(JDOE)
    ds = cat.create_dataset("MX-1", spec())
    sc.control("tokens", expire_all=True)  # the backend now takes us for anonymous: 403
    f = DatafileSpec("a", 1, "ab", "sha256", "/data/MX-1/D/a", time.time())
    with pytest.raises(AuthError, match="has expired; log in again") as e:
        cat.register_datafiles(ds.id, [f])
    assert not isinstance(e.value, PermissionDeniedError)
    clock = [time.time()]
    local = SciCatCatalogue(sc.url, clock=lambda: clock[0])
    local.login(JDOE)
    clock[0] += 7200  # past the JWT's exp: refused before any call
    calls = len(sc.control("log"))
    with pytest.raises(AuthError, match="has expired"):
        local.investigations()
    assert len(sc.control("log")) == calls


def test_lost_answers_and_retries_never_duplicate(sc):
    cat = SciCatCatalogue(sc.url, max_files_per_block=2)
    cat.login(JDOE)
    sc.control("fault", method="POST", path="/api/v4/datasets", lose_answer=True)
    with pytest.raises(TransientError):
        cat.create_dataset("MX-1", spec())  # created, answer lost
    ds = cat.create_dataset("MX-1", spec())  # the retry finds it by its key
    assert len(sc.state()["datasets"]) == 1 and ds.dataset_key == "du-k"
    files = [DatafileSpec(f"f{i}", i, f"{i:064x}", "sha256", f"/data/MX-1/D/f{i}", time.time())
             for i in range(5)]
    sc.control("fault", method="POST", path="/api/v4/origdatablocks", after=1, lose_answer=True)
    with pytest.raises(TransientError):
        cat.register_datafiles(ds.id, files)
    ids = cat.register_datafiles(ds.id, files)
    blocks = sc.state()["origdatablocks"]
    assert sorted(f["path"] for b in blocks for f in b["dataFileList"]) == [f"f{i}" for i in range(5)]
    assert len(blocks) == 3 and all(b["chkAlg"] == "sha256" for b in blocks)  # 2 + 2 + 1
    assert len(set(ids)) == 5
    with pytest.raises(CatalogueError, match="other content"):
        cat.register_datafiles(ds.id, [DatafileSpec("f1", 99, "ff", "sha256",
                                                    "/data/MX-1/D/f1", time.time())])
    cat.finalize_dataset(ds.id)
    back = cat.get_dataset(ds.id)
    assert back.complete and len(back.datafiles) == 5 and back.location == "/data/MX-1/D"


def test_a_picked_thumbnail_wins_over_the_first_image(sc, tmp_path):
    first, picked = tmp_path / "first.png", tmp_path / "picked.jpg"
    first.write_bytes(b"\x89PNG first")
    picked.write_bytes(b"\xff\xd8 picked")
    cat = SciCatCatalogue(sc.url, api_version="v3")
    cat.login(JDOE)
    ds = cat.create_dataset("MX-1", spec(metadata={"thumbnail": str(picked)}))
    cat.register_datafiles(ds.id, [DatafileSpec("first.png", 11, "ab", "sha256",
                                                "/data/MX-1/D/first.png", time.time(),
                                                local_path=str(first))])
    (att,) = sc.state()["attachments"]
    assert att["caption"] == "picked.jpg" and att["thumbnail"].startswith("data:image/jpeg;base64,")
    assert att["datasetId"] == ds.id  # the v3 shape
    assert "thumbnail" not in sc.state()["datasets"][0]["scientificMetadata"]


def test_proposals_are_created_only_where_allowed(sc):
    cat = SciCatCatalogue(sc.url, create_proposals=True, owner_group="p1001")
    cat.login(JDOE)
    with pytest.raises(PermissionDeniedError, match="create proposal MX-NEW"):
        cat.create_investigation("MX-NEW", "A new beamtime")
    cat.login({"method": "local", "username": "ingestor", "password": "ingest-pw"})
    inv = cat.create_investigation("MX-NEW", "A new beamtime")
    assert (inv.proposal, inv.title) == ("MX-NEW", "A new beamtime")
    assert any(p["proposalId"] == "MX-NEW" for p in sc.state()["proposals"])
    cat.close()


def test_a_picked_file_of_the_dataset_becomes_the_thumbnail(sc, tmp_path):
    images = []
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"\x89PNG " + name.encode())
        images.append(DatafileSpec(name, 9, "ab", "sha256", f"/data/MX-1/D/{name}", time.time(),
                                   local_path=str(tmp_path / name)))
    cat = SciCatCatalogue(sc.url)
    cat.login(JDOE)
    ds = cat.create_dataset("MX-1", spec(metadata={"thumbnail": "b.png"}))
    cat.register_datafiles(ds.id, images[:1])  # not the picked one: no thumbnail yet
    assert sc.state()["attachments"] == []
    cat.register_datafiles(ds.id, images[1:])
    (att,) = sc.state()["attachments"]
    assert att["caption"] == "b.png" and att["relationships"][0]["targetId"] == ds.id
