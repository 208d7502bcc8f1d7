"""Whole jobs from the command line against each catalogue combination, on real servers:

* ICAT with the bytes through IDS (the ICAT + IDS emulator);
* ICAT register-only, bytes to S3 (rclone serve s3);
* SciCat, bytes to S3, against each backend release facilities run (the emulator's
  ``--release``): 4.12 (v4 datasets only), 4.15 (+ v4 attachments), 4.20 (+ v4
  origdatablocks), 4.27, and v3 (no v4 route at all), each with the default configuration
  (``api_version = v4``).

Each combination runs the same scenarios: a full job; a wrong password; the login expiring
mid-job (ICAT: the job stops, then a resume; SciCat with a password: logged in again, the job
goes on); server faults mid-job (503s and an answer lost on the way back); the process
SIGKILLed mid-job, then a resume. After each, the server's own state is checked (one dataset,
each datafile once, complete, its size and file count), and the facility's own client reads
back what was registered: scitacean with strict validation (SciCat with v4 routes), pyscicat
(SciCat v3), python-icat's IDSClient (IDS).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration import catalogue_readback as official
from tests.integration.test_kill_and_resume import wait_for
from tests.servers.icat_emulator import ICATServer
from tests.servers.scicat_emulator import SciCatServer
from tests.servers.scicat_emulator_releases import RELEASES

pytestmark = pytest.mark.integration

SCICAT_RIGS = [f"scicat-{r}" for r in ("4.12", "4.15", "4.20", "4.27", "v3")]
RIGS = ["icat-ids", "icat-s3", *SCICAT_RIGS]
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


# ------------------------------------------------------------------------------ servers
@pytest.fixture(scope="session")
def icat_server(tmp_path_factory):
    server = ICATServer(tmp_path_factory.mktemp("icat")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def scicat_releases(tmp_path_factory):
    """release → a SciCat emulator of that backend release, started when first asked for."""
    servers: dict[str, SciCatServer] = {}

    def get(release: str) -> SciCatServer:
        if release not in servers:
            servers[release] = SciCatServer(tmp_path_factory.mktemp(f"scicat-{release}"),
                                            release=release).start()
        return servers[release]

    yield get
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def scicat_server(scicat_releases):
    """The latest release modelled (4.27)."""
    return scicat_releases("4.27")


@pytest.fixture(scope="session")
def scicat_v3_server(scicat_releases):
    """An older SciCat: only /api/v3."""
    return scicat_releases("v3")


# ------------------------------------------------------------------------------ rigs
@dataclass
class Rig:
    """One catalogue + storage combination: its configuration and its servers' state."""

    name: str
    server: object  # ICATServer | SciCatServer
    config: Path
    env: dict
    password: str = "secret"
    username: str = "jdoe"
    s3: tuple | None = None  # (RcloneS3Server, bucket)
    extra: dict = field(default_factory=dict)

    @property
    def icat(self) -> bool:
        return self.name.startswith("icat")

    @property
    def release(self):
        return RELEASES[self.name.split("-", 1)[1]] if not self.icat else None

    # -- the catalogue's state, normalised
    def datasets(self) -> list[dict]:
        if self.icat:
            state = self.server.state()
            keys = {p["dataset"]: p.get("stringValue") for p in state["DatasetParameter"]
                    if p["type"] == self._key_type(state)}
            return [{"id": str(d["id"]), "name": d["name"], "complete": d["complete"],
                     "key": keys.get(d["id"])} for d in state["Dataset"]]
        return [{"id": d["pid"], "name": d["datasetName"],
                 "complete": d["scientificMetadata"]["datauploader"]["complete"],
                 "key": d["scientificMetadata"]["datauploader"]["key"], "doc": d}
                for d in self.server.state()["datasets"]]

    @staticmethod
    def _key_type(state) -> int:
        return next(t["id"] for t in state["ParameterType"] if t["name"] == "datauploader_key")

    def datafiles(self) -> list[dict]:
        if self.icat:
            return [{"name": f["name"], "size": f["fileSize"], "checksum": f.get("checksum"),
                     "location": f.get("location"), "dataset": str(f["dataset"])}
                    for f in self.server.state()["Datafile"]]
        return [{"name": f["path"], "size": f["size"], "checksum": f.get("chk"),
                 "algorithm": b.get("chkAlg"), "dataset": b["datasetId"]}
                for b in self.server.state()["origdatablocks"] for f in b["dataFileList"]]

    def stored(self, datafile: dict, key: str) -> bytes:
        if self.name == "icat-ids":
            return self.server.ids_bytes(datafile["location"])
        s3, bucket = self.s3
        return s3.boto3_client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def expire_sessions(self) -> None:
        if self.icat:
            self.server.control("sessions", expire_all=True)
        else:
            self.server.control("tokens", expire_all=True)

    @property
    def registration(self) -> tuple[str, str]:
        """(method, path regex) of the calls that put files into the catalogue."""
        if self.name == "icat-ids":
            return "PUT", "/ids/put"
        if self.icat:
            return "POST", "/icat/entityManager"
        if "origdatablocks" in self.release.v4:
            return "POST", "/api/v4/origdatablocks"
        return "POST", "/api/v3/datasets/.+/origdatablocks"

    def read_back(self, root: Path, name: str = "D1") -> None:
        """The facility's own client reads back what the job registered."""
        (ds,) = self.datasets()
        expected = {f"{root.name}/{p.relative_to(root).as_posix()}": p.read_bytes()
                    for p in root.rglob("*") if p.is_file()}
        if self.name == "icat-ids":
            sid = login_icat(self.server)
            official.ids_reads(self.server.url, sid, int(ds["id"]), expected,
                               [f for f in self.server.datafiles() if str(f["dataset"]) == ds["id"]])
        elif not self.icat and self.release.v4:
            official.scitacean_reads(self.server.url, ds["id"], expected,
                                     thumbnail=any(k.endswith(".png") for k in expected))
        elif not self.icat:
            official.pyscicat_reads(self.server.url, ds["id"], expected, name)

    def registered_count(self) -> int:
        return len(self.datafiles())


def login_icat(server) -> str:
    import json

    import requests
    r = requests.post(server.url + "/icat/session",
                      headers={"Content-Type": "application/x-www-form-urlencoded"},
                      data={"json": json.dumps({"plugin": "simple", "credentials": [
                          {"username": "jdoe"}, {"password": "secret"}]})}, timeout=30)
    return r.json()["sessionId"]


def make_rig(name: str, request, tmp_path: Path, settings: str = "", extra: str = "") -> Rig:
    s3 = None
    env = {}
    if name == "icat-ids":
        server = request.getfixturevalue("icat_server")
        sections = server.catalogue_ini("cat") + "\n[storage:st]\ntype = ids\ncatalogue = cat\n"
    else:
        s3_server = request.getfixturevalue("s3_server")
        bucket = request.getfixturevalue("s3_bucket")
        s3 = (s3_server, bucket)
        env = {"AWS_ACCESS_KEY_ID": s3_server.access_key,
               "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}
        storage = (f"\n[storage:st]\ntype = s3\nendpoint_url = {s3_server.endpoint_url}\n"
                   f"bucket = {bucket}\n")
        if name == "icat-s3":
            server = request.getfixturevalue("icat_server")
            sections = server.catalogue_ini("cat") + storage
        else:  # the default configuration, whichever release the server runs
            server = request.getfixturevalue("scicat_releases")(name.split("-", 1)[1])
            sections = server.catalogue_ini("cat", "v4", extra) + storage
    server.control("reset")
    config = tmp_path / f"{name}.ini"
    config.write_text("[settings]\ndefault_profile = fac\nretry_max_delay = 0.2\n" + settings
                      + "\n[profile:fac]\ncatalogue = cat\nstorage = st\n" + sections)
    return Rig(name, server, config, env, s3=s3)


@pytest.fixture(params=RIGS)
def rig(request, tmp_path):
    return make_rig(request.param, request, tmp_path)


@pytest.fixture
def scan(tmp_path):
    """Small files, one in a sub-folder, and a PNG (SciCat's thumbnail)."""
    root = tmp_path / "acq" / "scan_1"
    (root / "sub").mkdir(parents=True)
    for i in range(10):
        (root / f"frame_{i:02d}.raw").write_bytes(os.urandom(3000 + i))
    (root / "sub" / "notes.txt").write_text("energy 12.4 keV\n")
    (root / "preview.png").write_bytes(PNG)
    return root


def spawn(rig: Rig, cli_env: dict, *argv, password: str | None = None) -> subprocess.Popen:
    """The CLI as its own process (so that it can be killed), password on stdin."""
    proc = subprocess.Popen([sys.executable, "-m", "datauploader", "--config", str(rig.config),
                             *map(str, argv), "--username", rig.username, "--password-stdin"],
                            env={**os.environ, **cli_env, **rig.env}, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(((password or rig.password) + "\n").encode())
    proc.stdin.close()
    proc.stdin = None  # communicate() must not flush it again
    return proc


def run(rig: Rig, cli, *argv, password: str | None = None):
    """The CLI in-process; the password from DATAUPLOADER_PASSWORD."""
    return cli("--config", rig.config, *argv, "--username", rig.username,
               env={**rig.env, "DATAUPLOADER_PASSWORD": password or rig.password})


def assert_one_complete_dataset_with_each_file_once(rig: Rig, root: Path, name="D1"):
    datasets = rig.datasets()
    assert len(datasets) == 1, datasets
    ds = datasets[0]
    assert ds["name"] == name and ds["complete"] and ds["key"].startswith("du-")
    files = [f for f in rig.datafiles() if f["dataset"] == ds["id"]]
    expected = {f"{root.name}/{p.relative_to(root).as_posix()}": p.stat().st_size
                for p in root.rglob("*") if p.is_file()}
    names = [f["name"] for f in files]
    assert sorted(names) == sorted(expected), "each file registered exactly once"
    assert {f["name"]: f["size"] for f in files} == expected
    if not rig.icat:  # the dataset's own figures survived the update that completed it
        assert (ds["doc"]["size"], ds["doc"]["numberOfFiles"]) == (sum(expected.values()),
                                                                 len(expected))
    rig.read_back(root, name)
    return ds, files


# ------------------------------------------------------------------------------ scenarios
def test_full_job_from_the_command_line(rig, cli, scan):
    r = run(rig, cli, "upload", "--proposal", "MX-1", "--dataset", "D1", "--json",
            "--keyword", "lysozyme", "--meta", "energy_keV=12.4", scan)
    assert r.code == 0, r.err + r.out
    assert r.json["state"] == "completed" and r.json["files_ok"] == 12
    calls = rig.server.control("log")  # ours only: the official clients read back below
    ds, files = assert_one_complete_dataset_with_each_file_once(rig, scan)

    for f in files:  # bytes where the catalogue says, checksums as recorded
        local = (scan.parent / f["name"]).read_bytes()
        assert rig.stored(f, f"MX-1/D1/{f['name']}") == local
        if rig.name == "icat-ids":  # IDS's own CRC32, bare hex
            assert int(f["checksum"], 16) == zlib.crc32(local)
        elif rig.icat:
            assert f["checksum"] == "sha256:" + hashlib.sha256(local).hexdigest()
        else:
            assert (f["algorithm"], f["checksum"]) == ("sha256", hashlib.sha256(local).hexdigest())

    if rig.icat:
        state = rig.server.state()
        params = {p["type"]: p for p in state["DatasetParameter"] if str(p["dataset"]) == ds["id"]}
        types = {t["id"]: t["name"] for t in state["ParameterType"]}
        assert {types[t]: p.get("stringValue", p.get("numericValue"))
                for t, p in params.items()} == {"datauploader_key": ds["key"],
                                                "keywords": "lysozyme", "energy_keV": 12.4}
    else:
        doc = ds["doc"]
        assert doc["sourceFolder"] == f"s3://{rig.s3[1]}/MX-1/D1"
        assert doc["proposalIds"] == ["MX-1"] and doc["ownerGroup"] == "p1001"
        assert doc["keywords"] == ["lysozyme"] and doc["scientificMetadata"]["energy_keV"] == "12.4"
        assert doc["numberOfFiles"] == 12
        (thumb,) = rig.server.state()["attachments"]  # the first image among the files
        assert thumb["thumbnail"].startswith("data:image/png;base64,")
        assert thumb["caption"] == "preview.png"
        assert not any(c.get("access_token_in_url") for c in calls)
        # each v4 route the release lacks was tried once, then its v3 route used
        for resource in ("datasets", "attachments", "origdatablocks"):
            v4 = [c for c in calls if c["path"].lower().startswith(f"/api/v4/{resource}")]
            if resource in rig.release.v4:
                assert v4 and all(c["status"] < 400 for c in v4), resource
            else:
                assert [c["status"] for c in v4] == [404], (resource, v4)

    # resuming a completed job, or uploading the same again, creates nothing new
    r = run(rig, cli, "upload", "--proposal", "MX-1", "--dataset", "D1", "--json", scan)
    assert r.code == 0 and r.json["bytes_sent"] == 0, r.err
    assert_one_complete_dataset_with_each_file_once(rig, scan)


def test_wrong_password_is_refused_in_plain_words(rig, cli, scan):
    r = run(rig, cli, "upload", "--proposal", "MX-1", "--dataset", "D1", scan,
            password="not-my-password")
    assert r.code == 3, r.err
    assert "did not accept" in r.err and "not-my-password" not in r.err
    assert rig.datasets() == []


def test_someone_elses_proposal_is_refused_in_plain_words(rig, cli, scan):
    r = run(rig, cli, "upload", "--proposal", "MX-3", "--dataset", "D1", scan)
    assert r.code == 2, r.err
    assert "MX-3 is not in" in r.err and "not one of its participants" in r.err
    assert rig.datasets() == []


def test_session_expires_mid_job_then_resume(rig, cli, scan, request, tmp_path):
    rig = make_rig(rig.name, request, tmp_path, "register_batch = 3\nworkers = 1\n"
                                                "bandwidth_limit = 6k\n")
    proc = spawn(rig, cli.env, "upload", "--proposal", "MX-1", "--dataset", "D1", scan)
    wait_for(lambda: rig.registered_count() >= 3, what="some files registered", proc=proc)
    if not rig.icat:
        # the token's hour is over (the backend's default JWT_EXPIRES_IN) while the job runs:
        # the password is at hand, so the job logs in again and goes on
        rig.server.control("clock", advance=3601)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        logins = rig.server.calls("/api/v3/auth/ldap", "POST")
        assert [c["status"] for c in logins] == [201, 201], "logged in again, once"
        assert_one_complete_dataset_with_each_file_once(rig, scan)
        return
    rig.expire_sessions()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert b"log in again" in err and b"resume" in err
    assert 3 <= rig.registered_count() < 12

    r = run(rig, cli, "resume", "1", "--json")  # logs in afresh, continues
    assert r.code == 0, r.err + r.out
    assert r.json["state"] == "completed"
    assert_one_complete_dataset_with_each_file_once(rig, scan)


@pytest.mark.parametrize("name", ["scicat-4.27", "scicat-v3"])
def test_a_token_login_is_announced_then_stops_resumably(name, cli, scan, request, tmp_path):
    rig = make_rig(name, request, tmp_path, "register_batch = 3\nworkers = 1\n"
                   "bandwidth_limit = 6k\n", extra="auth = token\n")
    token = official.scicat_token(rig.server.url)
    proc = spawn(rig, cli.env, "upload", "--proposal", "MX-1", "--dataset", "D1", scan,
                 password=token)
    wait_for(lambda: rig.registered_count() >= 3, what="some files registered", proc=proc)
    rig.server.control("clock", advance=3601)  # the token's hour is over; it cannot be renewed
    out, err = proc.communicate(timeout=60)
    assert b"warning: your login to SciCat at " in err and b"(a token) ends at" in err
    assert proc.returncode == 3, err
    assert b"has expired; log in again, then resume the job" in err
    assert 3 <= rig.registered_count() < 12

    resume = spawn(rig, cli.env, "resume", "1", "--json",
                   password=official.scicat_token(rig.server.url))  # a new token
    out, err = resume.communicate(timeout=120)
    assert resume.returncode == 0, err
    assert_one_complete_dataset_with_each_file_once(rig, scan)


def test_server_faults_mid_job_are_retried(rig, cli, scan, request, tmp_path):
    rig = make_rig(rig.name, request, tmp_path, "register_batch = 3\nworkers = 2\n")
    method, path = rig.registration
    first = 1 if rig.name == "icat-s3" else 0  # the dataset itself is created there too
    rig.server.control("fault", method=method, path=path, after=first, count=2, status=503,
                       body={"code": "INTERNAL", "message": "overloaded"} if rig.icat else
                       {"statusCode": 503, "message": "Service Unavailable"})
    # an answer lost on its way back: the call was processed, the client cannot know
    rig.server.control("fault", method=method, path=path, after=first + 3, count=1,
                       lose_answer=True)
    r = run(rig, cli, "upload", "--proposal", "MX-1", "--dataset", "D1", "--json", scan)
    assert r.code == 0, r.err + r.out
    calls = rig.server.calls(path, method)
    assert [c["status"] for c in calls].count(503) == 2 and any(c["lost"] for c in calls)
    assert_one_complete_dataset_with_each_file_once(rig, scan)


def test_kill_mid_job_then_resume_without_duplicates(rig, cli, scan, request, tmp_path):
    rig = make_rig(rig.name, request, tmp_path, "register_batch = 3\nworkers = 1\n"
                                                "bandwidth_limit = 6k\n")
    proc = spawn(rig, cli.env, "upload", "--proposal", "MX-1", "--dataset", "D1", scan)
    wait_for(lambda: rig.registered_count() >= 3, what="some files registered", proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    before = rig.registered_count()
    assert rig.datasets() and not rig.datasets()[0]["complete"] and before < 12

    resume = spawn(rig, cli.env, "resume", "1", "--json")
    out, err = resume.communicate(timeout=120)
    assert resume.returncode == 0, err
    assert_one_complete_dataset_with_each_file_once(rig, scan)


@pytest.mark.parametrize("example", sorted(
    (Path(__file__).resolve().parents[2] / "resources" / "examples").glob("catalogue-*.ini")),
    ids=lambda p: p.name)
def test_example_configurations_are_valid(example, tmp_path):
    from datauploader.app.paths import resolve
    from datauploader.app.service import Service

    env = {"DATAUPLOADER_HOME": str(tmp_path / "home"),
           "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
           "AWS_SECRET_ACCESS_KEY": "example-secret"}
    service = Service.open(resolve(env), [str(example)], env)
    try:
        for profile in service.config.profile_names():
            if profile == "local":
                continue
            cat, storage = service.catalogue(profile), service.storage(profile)
            assert cat.kind in ("icat", "scicat", "openbis", "etiket")
            assert storage.kind in ("ids", "s3", "etiket")
            assert "example.org" in cat.describe() + storage.describe()
    finally:
        service.close()


def test_login_command(rig, cli):
    r = run(rig, cli, "login")
    assert r.code == 0, r.err
    who = "simple/jdoe" if rig.icat else "jdoe"
    assert r.out.startswith(f"Logged in to {'ICAT' if rig.icat else 'SciCat'} at ") and who in r.out


@pytest.mark.parametrize("name", ["scicat-4.12", "scicat-4.27", "icat-s3"])
def test_config_check_online_says_what_the_server_offers(name, cli, request, tmp_path):
    rig = make_rig(name, request, tmp_path)
    r = cli("--config", rig.config, "config", "check", "--online", env=rig.env)
    assert r.code == 0, r.err
    if rig.icat:
        assert "ICAT 6.1.0" in r.out
        assert "authenticators offered: Facility account (simple), Institute (LDAP) (ldap)" in r.out
    elif name == "scicat-4.12":
        assert ": datasets: v4 routes" in r.out
        assert "origdatablocks: v3 routes (no v4 origdatablocks routes: a backend before 4.20)" \
            in r.out and "attachments: v3 routes" in r.out
    else:
        assert r.out.count(" v4 routes") == 3
    assert rig.datasets() == []  # asking created nothing
