"""The SciCat emulator is as strict as the backend (its DTOs from scicat-sdk-py, whitelist +
forbidNonWhitelisted, Nest's error shapes, case-insensitive routes, encoded PIDs), and our
client sends each API version exactly the fields it takes, logs in each supported way, keeps
the token out of URLs, notices an expired token and never registers a file twice."""

from __future__ import annotations

import hashlib
import json
import time
from urllib.parse import quote

import pytest
import requests

from datauploader.catalogue import scicat_payloads as P
from datauploader.catalogue.base import DatafileSpec, DatasetSpec
from datauploader.catalogue.scicat import SciCatCatalogue, jwt_expiry
from datauploader.catalogue.scicat_session import V4_SINCE
from datauploader.errors import (AuthError, CatalogueError, ConfigError, InputError,
                                 PermissionDeniedError, TransientError)
from tests.integration import catalogue_readback as official
from tests.integration.test_icat_scicat_jobs import scicat_releases  # noqa: F401 - fixture
from tests.integration.test_icat_scicat_jobs import scicat_server  # noqa: F401 - fixture
from tests.integration.test_icat_scicat_jobs import scicat_v3_server  # noqa: F401 - fixture
from tests.servers.scicat_emulator import _models, validate
from tests.servers.scicat_emulator_releases import RELEASES

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


def test_a_password_login_is_renewed_before_the_token_expires(sc):
    clock = [time.time()]
    cat = SciCatCatalogue(sc.url, clock=lambda: clock[0])
    cat.login(JDOE)
    assert cat.login_ends() is None  # renewed while it is used
    ds = cat.create_dataset("MX-1", spec())
    clock[0] += 3600 - 120  # two minutes before the JWT's exp (the backend's hour)
    f = DatafileSpec("a", 1, "ab", "sha256", "/data/MX-1/D/a", time.time())
    cat.register_datafiles(ds.id, [f])
    logins = sc.calls("/api/v3/auth/ldap", "POST")
    assert [c["status"] for c in logins] == [201, 201]  # logged in again first
    assert not any(c["status"] == 403 for c in sc.control("log"))
    # and when the server stops taking the token early (revoked), once more, then on
    sc.control("tokens", expire_all=True)
    cat.register_datafiles(ds.id, [DatafileSpec("b", 1, "ab", "sha256", "/data/MX-1/D/b",
                                                time.time())])
    assert len(sc.calls("/api/v3/auth/ldap", "POST")) == 3
    assert len(cat.get_dataset(ds.id).datafiles) == 2
    cat.close()


def test_an_expired_token_login_asks_for_a_new_token(sc):
    by_token = SciCatCatalogue(sc.url, auth="token")
    by_token.login({"token": token(sc)})
    assert by_token.login_ends() == pytest.approx(time.time() + 3600, abs=60)
    ds = by_token.create_dataset("MX-1", spec())
    sc.control("tokens", expire_all=True)  # the backend now takes us for anonymous: 403
    f = DatafileSpec("a", 1, "ab", "sha256", "/data/MX-1/D/a", time.time())
    with pytest.raises(AuthError, match="has expired; log in again") as e:
        by_token.register_datafiles(ds.id, [f])
    assert not isinstance(e.value, PermissionDeniedError)
    clock = [time.time()]
    local = SciCatCatalogue(sc.url, auth="token", clock=lambda: clock[0])
    local.login({"token": token(sc)})
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


# ------------------------------------------------------------------------- releases
@pytest.fixture(params=["4.12", "4.15", "4.20", "4.27", "v3"])
def release(request, scicat_releases):  # noqa: F811
    server = scicat_releases(request.param)
    server.control("reset")
    return server


def _five_files():
    return [DatafileSpec(f"f{i}", 100 + i, hashlib.sha256(b"%d" % i).hexdigest(), "sha256",
                         f"/data/MX-1/D/f{i}", time.time()) for i in range(5)]


def test_each_release_gets_its_routes_detected_once_and_v3_where_v4_is_missing(release):
    rel = RELEASES[release.release]
    cat = SciCatCatalogue(release.url, max_files_per_block=2)  # the default: api_version v4
    cat.login(JDOE)
    ds = cat.create_dataset("MX-1", spec())
    cat.register_datafiles(ds.id, _five_files())
    cat.finalize_dataset(ds.id)
    back = cat.get_dataset(ds.id)
    assert back.complete and len(back.datafiles) == 5
    for resource in ("datasets", "origdatablocks"):
        v4 = release.calls(f"/api/v4/{resource}.*")
        if resource in rel.v4:
            assert v4 and all(c["status"] < 300 for c in v4)
        else:  # tried once, remembered: three blocks went through v3
            assert [c["status"] for c in v4] == [404]
    assert len(release.calls("/api/v3/datasets/.+/origdatablocks", "POST")) == \
        (0 if "origdatablocks" in rel.v4 else 3)
    # what the server offers, asked without logging in (config check --online)
    offers = SciCatCatalogue(release.url).describe_server()
    assert offers == [f"{r}: v4 routes" if r in rel.v4 else
                      f"{r}: v3 routes (no v4 {r} routes: a backend before {since})"
                      for r, since in V4_SINCE.items()]
    cat.close()


def test_the_complete_update_keeps_size_and_file_count_on_every_release(release):
    cat = SciCatCatalogue(release.url)
    cat.login(JDOE)
    ds = cat.create_dataset("MX-1", spec())
    files = _five_files()
    cat.register_datafiles(ds.id, files)
    cat.finalize_dataset(ds.id)
    (doc,) = release.state()["datasets"]
    assert (doc["size"], doc["numberOfFiles"]) == (sum(f.size for f in files), 5)
    assert doc["scientificMetadata"]["datauploader"]["complete"] is True
    # the release really zeroes what a PATCH does not name (the behaviour modelled)
    tok = token(release)
    path = "v4" if RELEASES[release.release].v4 else "v3"
    r = requests.patch(f"{release.url}/api/{path}/datasets/{quote(ds.id, safe='')}",
                       headers=bearer(tok), json={"description": "edited"})
    assert r.status_code == 200 and r.json()["size"] == 0
    # a dataset left zeroed is corrected when the job is resumed and finalizes again
    cat.finalize_dataset(ds.id)
    (doc,) = release.state()["datasets"]
    assert (doc["size"], doc["numberOfFiles"]) == (sum(f.size for f in files), 5)
    cat.close()


def test_a_dataset_left_with_wrong_figures_is_reported(sc):
    cat = SciCatCatalogue(sc.url)
    cat.login(JDOE)
    ds = cat.create_dataset("MX-1", spec())
    cat.register_datafiles(ds.id, _five_files())
    # a backend that answers the update with, and stores, other figures than it was sent
    sc.control("fault", method="PATCH", path="/api/v4/datasets/.+", status=200,
               body={"pid": ds.id, "size": 0, "numberOfFiles": 0}, count=2)
    sc.control("fault", method="GET", path="/api/v4/datasets/.+", after=1, status=200,
               body={"pid": ds.id, "size": 0, "numberOfFiles": 0, "scientificMetadata": {}})
    with pytest.raises(CatalogueError, match=r"recorded the dataset with 0 bytes in 0 files"):
        cat.finalize_dataset(ds.id)


def test_proposals_are_paged_in_a_stable_order(sc):
    many = [{"proposalId": f"P-{i:05d}", "title": f"Beamtime {i}", "ownerGroup": "p1001",
             "email": "pi@example.org"} for i in range(2500)]
    sc.control("seed", proposals=many)
    cat = SciCatCatalogue(sc.url)
    cat.login(JDOE)
    got = [i.proposal for i in cat.investigations()]
    assert len(got) == len(set(got)) == 2502  # MX-1, MX-2 and every P-, none twice
    calls = sc.calls("/api/v3/proposals")
    assert len(calls) == 3  # pages of 1,000
    # the emulator pages unsorted lists as MongoDB may: without a sort they repeat and skip
    tok = token(sc)
    pages = [requests.get(sc.url + "/api/v3/proposals", headers=bearer(tok), params={
        "filters": json.dumps({"limits": {"limit": 1000, "skip": skip}})}).json()
             for skip in (0, 1000, 2000)]
    ids = [p["proposalId"] for page in pages for p in page]
    assert len(set(ids)) < len(ids)
    cat.close()


@pytest.mark.parametrize("value, sent", [("https://s3.example.org:9000/raw", "s3.example.org"),
                                         ("s3.example.org", "s3.example.org")])
def test_source_folder_host_is_sent_as_every_release_takes_it(release, value, sent):
    cat = SciCatCatalogue(release.url, source_folder_host=value)
    cat.login(JDOE)
    cat.create_dataset("MX-1", spec())
    (doc,) = release.state()["datasets"]
    assert doc["sourceFolderHost"] == sent
    cat.close()


def test_the_releases_validate_source_folder_host_like_their_dtos(release):
    tok = token(release)
    v = "v4" if RELEASES[release.release].v4 else "v3"
    body = payload(v)
    accepts_url = RELEASES[release.release].host_rule == "url"
    for host, fqdn_ok in (("s3.example.org", True), ("https://s3.example.org", False),
                          ("localhost", False)):
        r = requests.post(f"{release.url}/api/{v}/datasets", headers=bearer(tok),
                          json={**body, "sourceFolderHost": host})
        ok = fqdn_ok or (accepts_url and host.startswith("https://"))
        assert (r.status_code == 201) == ok, (host, r.text)
    with pytest.raises(ConfigError, match="not a host name with a domain"):
        SciCatCatalogue(release.url, source_folder_host="localhost")


def test_include_answers_without_writing_into_the_stored_dataset(sc):
    tok = token(sc)
    pid = requests.post(sc.url + "/api/v4/datasets", headers=bearer(tok),
                        json=payload("v4")).json()["pid"]
    url = f"{sc.url}/api/v4/datasets/{quote(pid, safe='')}"
    r = requests.get(url, headers=bearer(tok), params=[("include", "origdatablocks")])
    assert r.json()["origdatablocks"] == []
    assert "origdatablocks" not in sc.state()["datasets"][0]
    assert "origdatablocks" not in requests.get(url, headers=bearer(tok)).json()


def test_the_read_routes_of_scitacean_and_pyscicat(sc, tmp_path):
    from pyscicat.client import ScicatClient

    cat = SciCatCatalogue(sc.url)
    cat.login(JDOE)
    ds = cat.create_dataset("MX-1", spec(name="Lysozyme run"))
    png = tmp_path / "p.png"
    png.write_bytes(b"\x89PNG x")
    files = _five_files() + [DatafileSpec("p.png", 7, hashlib.sha256(b"\x89PNG x").hexdigest(),
                                          "sha256", "/data/MX-1/D/p.png", time.time(),
                                          local_path=str(png))]
    cat.register_datafiles(ds.id, files)
    cat.finalize_dataset(ds.id)
    tok = token(sc)
    back = official.scitacean_reads(sc.url, ds.id, {}, token=tok, check_files=False)
    assert back.name == "Lysozyme run" and len(back.files) == 6
    client = ScicatClient(base_url=sc.url + "/api/v3", token=tok)
    assert client.datasets_get_one(ds.id)["proposalId"] == "MX-1"
    assert len(client.datasets_origdatablocks_get_one(ds.id)) == 1
    found = client.datasets_find(query_fields={"text": "lysozyme"})
    assert [d["pid"] for d in found] == [ds.id], (found, sc.calls(".*fullquery.*"))
    assert client.datasets_find(query_fields={"text": "insulin"}) == []
    assert [d["pid"] for d in client.datasets_get_many({"proposalId": "MX-1"})] == [ds.id]
    assert client.proposals_get_one("MX-1")["title"] == "Lysozyme structures"
    cat.close()


def test_an_older_configuration_with_api_version_v3_never_calls_v4(sc):
    cat = SciCatCatalogue(sc.url, api_version="v3")
    cat.login(JDOE)
    ds = cat.create_dataset("MX-1", spec())
    cat.register_datafiles(ds.id, _five_files())
    cat.finalize_dataset(ds.id)
    assert not any(c["path"].lower().startswith("/api/v4") for c in sc.control("log"))
    assert SciCatCatalogue(sc.url, api_version="v3").describe_server()[0] == \
        "datasets: v3 routes (api_version = v3)"
    cat.close()
