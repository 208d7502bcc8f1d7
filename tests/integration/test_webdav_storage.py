"""WebDAV storage against real servers on loopback: ``rclone serve webdav`` (basic auth,
opaque ETags), the same with ``--etag-hash MD5`` (a server that states checksums), and nginx
with dav-ext behind a bearer token.

Jobs from the command line and from the engine: every file identical and verified, nothing
overwritten (a foreign file listed before the job, and one appearing during it), wrong
credentials, TLS with a private CA, a server killed mid-transfer and restarted, the uploader
SIGKILLed and resumed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from datauploader.catalogue.local import LocalCatalogue
from datauploader.core.engine import Engine, EngineSettings
from datauploader.core.journal import Journal
from datauploader.core.keys import dataset_key
from datauploader.core.models import DatasetDefinition, TaskState
from datauploader.core.planner import Planner
from datauploader.core.retry import RetryPolicy
from datauploader.errors import ExitCode, RemoteExistsError
from datauploader.events import BytesSent, FileRetrying, RecordingSubscriber
from datauploader.source import SourceReader
from datauploader.storage.base import TransferContext, TransferItem
from datauploader.storage.webdav.backend import WebDAVStorage
from datauploader.storage.webdav.protocol import parse_digest, parse_oc_checksums
from tests.integration.test_kill_and_resume import journal_rows, spawn, wait_for
from tests.servers.loopback import wait_until
from tests.servers.nginx_webdav import NginxWebDAVServer, nginx_binary, nginx_webdav  # noqa: F401
from tests.servers.rclone_webdav import (RcloneWebDAVServer, webdav_md5_server,  # noqa: F401
                                         webdav_server)

pytestmark = pytest.mark.integration
MiB = 1 << 20


class DavRig:
    """A server, a fresh folder on it, a configuration file and the environment holding the
    secret (as a user would export it)."""

    def __init__(self, kind, server, tmp_path):
        self.kind, self.server, self.tmp = kind, server, tmp_path
        self.base = f"t{uuid.uuid4().hex[:10]}"
        if kind == "nginx":
            self.auth_lines = "auth = bearer\n"
            self.env = {"DATAUPLOADER_WEBDAV_TOKEN": server.token}
        else:
            self.auth_lines = f"username = {server.user}\n"
            self.env = {"DATAUPLOADER_WEBDAV_PASSWORD": server.password}
        self.http("MKCOL", self.base + "/")
        self.url = f"{server.url}/{self.base}"
        self.ini = tmp_path / f"dav-{kind}.ini"
        self.write()

    def write(self, extra="", settings="", url=None):
        self.ini.write_text(
            "[settings]\ndefault_profile = dav\n" + settings +
            "\n[profile:dav]\ncatalogue = local\nstorage = d\n"
            f"[storage:d]\ntype = webdav\nurl = {url or self.url}\n{self.auth_lines}{extra}")
        return self.ini

    def http(self, method, path, data=None) -> requests.Response:
        """requests, as another WebDAV client would use it: for set-up and cross-checks."""
        if self.kind == "nginx":
            kw = {"headers": {"Authorization": f"Bearer {self.server.token}"}}
        else:
            kw = {"auth": (self.server.user, self.server.password)}
        return requests.request(method, f"{self.server.url}/{path}", data=data, timeout=30, **kw)

    def put(self, key: str, data: bytes) -> None:
        parts = f"{self.base}/{key}".split("/")
        for i in range(2, len(parts)):
            self.http("MKCOL", "/".join(parts[:i]) + "/")
        assert self.http("PUT", f"{self.base}/{key}", data).status_code in (200, 201, 204)

    def disk(self, key: str):
        return self.server.path_of(f"{self.base}/{key}")

    def storage(self, **kw) -> WebDAVStorage:
        if self.kind == "nginx":
            args = dict(url=self.url, auth="bearer", token=self.server.token)
        else:
            args = dict(url=self.url, username=self.server.user, password=self.server.password)
        args.update(kw)
        return WebDAVStorage(**args, storage_name="d")


@pytest.fixture(params=["rclone", "rclone-md5", "nginx"])
def dav(request, tmp_path):
    fixture = {"rclone": "webdav_server", "rclone-md5": "webdav_md5_server",
               "nginx": "nginx_webdav"}[request.param]
    return DavRig(request.param, request.getfixturevalue(fixture), tmp_path)


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "data" / "run"
    (root / "sub dir").mkdir(parents=True)
    content = {"a.h5": os.urandom(5000), "empty.txt": b"", "unicodé ✓.dat": b"unicode",
               "sub dir/with space #1 100%.txt": b"odd", "plus+and&equal=.txt": b"p",
               "big.raw": os.urandom(5 * MiB + 3)}
    for rel, data in content.items():
        (root / rel).write_bytes(data)
    return root


def expected_keys(data_root, dataset="D", proposal="P"):
    return {f"{proposal}/{dataset}/run/{p.relative_to(data_root).as_posix()}": p.read_bytes()
            for p in data_root.rglob("*") if p.is_file()}


def temp_files(root):
    return [p for p in root.rglob(".*.part") if ".du-" in p.name]


EXPECTED_PROOF = {"rclone": "size", "rclone-md5": "etag-md5",
                  "nginx": "size"}


@pytest.mark.parametrize("dav", ["rclone", "rclone-md5", "nginx"], indirect=True)
def test_upload_job_identical_and_verified_then_rerun_sends_nothing(cli, dav, files, home,
                                                                     request):
    kind = request.node.callspec.params["dav"]
    r = cli("--config", dav.ini, "upload", "--json", "--proposal", "P", "--dataset", "D", files,
            env=dav.env)
    assert r.code == ExitCode.OK, r.err + r.out
    assert r.json["files_ok"] == 6
    for key, content in expected_keys(files).items():
        assert dav.disk(key).read_bytes() == content, key
    job = cli("jobs", "1", "--json", env=dav.env).json
    by_name = {f["name"]: f for f in job["files"]}
    assert {f["verified_by"] for f in job["files"]} == {EXPECTED_PROOF[kind]}
    assert by_name["run/big.raw"]["checksum"] == hashlib.sha256(
        (files / "big.raw").read_bytes()).hexdigest()
    assert by_name["run/sub dir/with space #1 100%.txt"]["location"] == \
        f"{dav.url}/P/D/run/sub%20dir/with%20space%20%231%20100%25.txt"
    assert temp_files(dav.disk("")) == []
    r = cli("--config", dav.ini, "verify", "1", env=dav.env)
    assert r.code == 0 and "6 of 6 files verified (full); all good." in r.out
    r = cli("--config", dav.ini, "upload", "--json", "--proposal", "P", "--dataset", "D", files,
            env=dav.env)
    assert r.code == 0 and r.json["bytes_sent"] == 0 and r.json["files_ok"] == 6
    cat = sqlite3.connect(home / "data" / "catalogue.sqlite")
    assert cat.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 1


@pytest.mark.parametrize("dav", ["rclone", "nginx"], indirect=True)
def test_a_foreign_file_is_never_overwritten(cli, dav, files):
    dav.put("P/D/run/a.h5", b"not ours")
    r = cli("--config", dav.ini, "upload", "--json", "--proposal", "P", "--dataset", "D", files,
            env=dav.env)
    assert r.code == ExitCode.INCOMPLETE
    assert [f["name"] for f in r.failed] == ["run/a.h5"]
    assert "not overwritten" in r.failed[0]["error"]
    assert dav.disk("P/D/run/a.h5").read_bytes() == b"not ours"
    # the owner removes it; resume sends exactly that file
    assert dav.http("DELETE", f"{dav.base}/P/D/run/a.h5").status_code in (200, 204)
    r = cli("--config", dav.ini, "resume", "1", "--json", env=dav.env)
    assert r.code == 0 and r.json["bytes_sent"] == 5000


@pytest.mark.parametrize("dav", ["rclone", "nginx"], indirect=True)
@pytest.mark.parametrize("size", [3000, 2 * MiB], ids=["small", "streamed"])
def test_a_file_appearing_after_the_listing_is_not_overwritten(dav, tmp_path, size):
    """Someone else creates the target while our file is on its way: the MOVE with
    Overwrite: F is refused and their file stays as it is (If-None-Match alone would not do:
    rclone ignores it on PUT)."""
    src = tmp_path / "x.bin"
    src.write_bytes(os.urandom(size))
    storage = dav.storage()
    storage.check()
    key = "P/D/x.bin"
    item = TransferItem(task_id=3, path=str(src), key=key, size=size, algorithm="sha256",
                        job_uuid=uuid.uuid4().hex)

    class Ctx(TransferContext):
        cancel = threading.Event()

        def sent(self, n):
            if not getattr(self, "done", False):
                self.done = True
                dav.put(key, b"theirs")

    ctx = Ctx()
    with pytest.raises(RemoteExistsError, match="not overwritten"):
        storage.upload(item, ctx)
    storage.cleanup_task(item, ctx)
    storage.close()
    assert dav.disk(key).read_bytes() == b"theirs"
    assert temp_files(dav.disk("")) == []


def test_wrong_password_gives_the_auth_exit_code(cli, webdav_server, files, tmp_path):  # noqa: F811
    dav = DavRig("rclone", webdav_server, tmp_path)
    r = cli("--config", dav.ini, "upload", "--proposal", "P", "--dataset", "D", files,
            env={"DATAUPLOADER_WEBDAV_PASSWORD": "not-the-password"})
    assert r.code == ExitCode.AUTH
    assert f"refused the password for user {webdav_server.user}" in r.err
    assert "not-the-password" not in r.err
    r = cli("--config", dav.ini, "upload", "--proposal", "P", "--dataset", "D", files)
    assert r.code == ExitCode.AUTH
    assert "DATAUPLOADER_WEBDAV_PASSWORD" in r.err and "credentials set d" in r.err


def test_wrong_token_gives_the_auth_exit_code(cli, nginx_webdav, files, tmp_path):  # noqa: F811
    dav = DavRig("nginx", nginx_webdav, tmp_path)
    r = cli("--config", dav.ini, "upload", "--proposal", "P", "--dataset", "D", files,
            env={"DATAUPLOADER_WEBDAV_TOKEN": "expired-token"})
    assert r.code == ExitCode.AUTH and "refused the token" in r.err
    assert "expired-token" not in r.err


def test_a_private_certificate_authority_needs_ca_bundle(cli, tmp_path, files):
    server = RcloneWebDAVServer(tmp_path / "tls", user="jdoe", password="pw", tls=True).start()
    try:
        server.put("base/.keep", b"")
        env = {"DATAUPLOADER_WEBDAV_PASSWORD": "pw"}
        ini = tmp_path / "tls.ini"
        body = ("[settings]\ndefault_profile = dav\n[profile:dav]\ncatalogue = local\n"
                f"storage = d\n[storage:d]\ntype = webdav\nurl = {server.url}/base\n"
                "username = jdoe\n")
        ini.write_text(body)
        r = cli("--config", ini, "upload", "--proposal", "P", "--dataset", "D", files, env=env)
        assert r.code != 0
        assert "could not be verified" in r.err and "ca_bundle" in r.err
        ini.write_text(body + f"ca_bundle = {server.ca_file}\n")
        r = cli("--config", ini, "upload", "--json", "--proposal", "P", "--dataset", "D", files,
                env=env)
        assert r.code == 0, r.err
        assert r.json["files_ok"] == 6
        assert server.path_of("base/P/D/run/big.raw").read_bytes() == \
            (files / "big.raw").read_bytes()
    finally:
        server.stop()


def test_a_missing_folder_and_a_wrong_url_are_explained(cli, webdav_server, files, tmp_path):  # noqa: F811
    dav = DavRig("rclone", webdav_server, tmp_path)
    dav.write(url=f"{webdav_server.url}/no-such-folder-{uuid.uuid4().hex[:6]}")
    r = cli("--config", dav.ini, "upload", "--proposal", "P", "--dataset", "D", files,
            env=dav.env)
    assert r.code != 0 and "does not exist on the WebDAV server" in r.err
    dav.write(url="ftp://example.org/x")
    r = cli("--config", dav.ini, "upload", "--proposal", "P", "--dataset", "D", files,
            env=dav.env)
    assert r.code != 0 and "is not an http:// or https:// URL" in r.err


# -- engine level ----------------------------------------------------------------------------
class EngineRig:
    def __init__(self, storage, tmp, data):
        self.storage, self.tmp, self.data = storage, tmp, data
        self.journal = Journal(str(tmp / "journal.sqlite"))
        self.catalogue = LocalCatalogue(str(tmp / "cat.sqlite"))

    def job(self, name="D"):
        d = DatasetDefinition(proposal="P", name=name, paths=[str(self.data)])
        prefix = f"P/{name}"
        plan = Planner(self.storage.name_rules).plan(d.paths, prefix)
        key = dataset_key(self.catalogue.describe(), "P", name, self.storage.describe(), prefix)
        return self.journal.create_job(profile="t", catalogue=self.catalogue.describe(),
                                       storage=self.storage.describe(), prefix=prefix,
                                       definition=d, files=plan.files, dataset_key=key)

    def engine(self, subscribers=(), workers=2, attempts=3, bwlimit="off", source=SourceReader):
        policy = RetryPolicy(attempts=attempts, base_delay=0.2, factor=1.5, max_delay=1.0)
        return Engine(self.journal, self.storage, self.catalogue,
                      EngineSettings(workers=workers, retry=policy, bandwidth_limit=bwlimit),
                      subscribers=subscribers, lock_dir=str(self.tmp / "locks"),
                      source_factory=source)

    def close(self):
        self.storage.close()
        self.journal.close()
        self.catalogue.close()


@pytest.fixture
def big_files(tmp_path):
    root = tmp_path / "data" / "acq"
    root.mkdir(parents=True)
    for i in range(20):
        (root / f"frame_{i:03d}.raw").write_bytes(os.urandom(64 * 1024))
    for i in range(2):
        (root / f"volume_{i}.h5").write_bytes(os.urandom(16 * MiB + i))
    return root


@pytest.mark.parametrize("kind", ["rclone", "nginx"])
def test_server_stopped_mid_transfer_then_restarted(kind, tmp_path, big_files):
    if kind == "nginx" and nginx_binary() is None:
        pytest.skip("needs nginx and libnginx-mod-http-dav-ext")
    server = (RcloneWebDAVServer(tmp_path / "srv", user="jdoe", password="pw") if kind == "rclone"
              else NginxWebDAVServer(tmp_path / "srv", token="tok"))
    server.start()
    try:
        dav = DavRig(kind, server, tmp_path)
        er = EngineRig(dav.storage(), tmp_path, big_files)
        job_id = er.job()
        rec = RecordingSubscriber()
        total = sum(p.stat().st_size for p in big_files.iterdir())
        result = {}
        t = threading.Thread(target=lambda: result.setdefault(
            "done", er.engine([rec], attempts=12, bwlimit="16M").run(job_id)))
        t.start()
        try:
            wait_until(lambda: sum(e.nbytes for e in rec.of(BytesSent)) > total * 0.4,
                       timeout=60, what="40 % sent")
            server.kill()
            wait_until(lambda: rec.of(FileRetrying), timeout=60, what="a retry")
            server.start()  # same port, same folder
        finally:
            t.join(timeout=180)
        assert result["done"].state == "completed", result["done"].error
        for p in big_files.iterdir():
            assert dav.disk(f"P/D/acq/{p.name}").read_bytes() == p.read_bytes(), p.name
        assert temp_files(dav.disk("")) == []
        er.close()
    finally:
        server.stop()


class AppendingReader(SourceReader):
    """The acquisition software appends to the file right after our first read."""

    def readinto(self, buf, hash_it=True):
        n = super().readinto(buf, hash_it)
        if n and self.path.endswith("growing.raw") and not getattr(self, "_appended", False):
            self._appended = True
            with open(self.path, "ab") as f:
                f.write(b"late frame")
        return n


@pytest.mark.parametrize("size", [200_000, 3 * MiB], ids=["small", "streamed"])
def test_a_file_growing_while_read_is_never_uploaded(webdav_server, tmp_path, size):  # noqa: F811
    dav = DavRig("rclone", webdav_server, tmp_path)
    data = tmp_path / "grow"
    data.mkdir()
    (data / "ok.bin").write_bytes(os.urandom(1000))
    (data / "growing.raw").write_bytes(os.urandom(size))
    er = EngineRig(dav.storage(), tmp_path, data)
    job_id = er.job()
    done = er.engine(source=AppendingReader).run(job_id)
    assert done.state == "incomplete"
    t = {t.relpath: t for t in er.journal.tasks(job_id)}
    assert t["grow/growing.raw"].state is TaskState.FAILED
    assert "changed while it was being read" in t["grow/growing.raw"].error or \
        "grew" in t["grow/growing.raw"].error
    assert t["grow/ok.bin"].state is TaskState.REGISTERED, t["grow/ok.bin"].error
    assert sorted(p.name for p in dav.disk("P/D/grow").iterdir()) == ["ok.bin"]
    done = er.engine().run(job_id)  # complete now: resume uploads it in full
    assert done.state == "completed"
    assert dav.disk("P/D/grow/growing.raw").read_bytes() == (data / "growing.raw").read_bytes()
    er.close()


def test_verify_detects_damage(cli, webdav_server, files, tmp_path):  # noqa: F811
    dav = DavRig("rclone", webdav_server, tmp_path)
    assert cli("--config", dav.ini, "upload", "--proposal", "P", "--dataset", "D", files,
               env=dav.env).code == 0
    dav.put("P/D/run/unicodé ✓.dat", b"UNICODE")
    assert dav.http("DELETE", f"{dav.base}/P/D/run/a.h5").status_code in (200, 204)
    r = cli("--config", dav.ini, "verify", "1", "--json", env=dav.env)
    assert r.code == ExitCode.INCOMPLETE
    assert {p["file"]: p["status"] for p in r.json["problems"]} == {
        "run/a.h5": "missing", "run/unicodé ✓.dat": "checksum-mismatch"}


def test_sigkill_mid_job_then_resume(cli, webdav_server, tmp_path, big_files, home):  # noqa: F811
    dav = DavRig("rclone", webdav_server, tmp_path)
    dav.write(settings="workers = 2\n")
    env = {**cli.env, **dav.env}
    proc = spawn(env, "--config", dav.ini, "upload", "--proposal", "P", "--dataset", "D",
                 "--bwlimit", "8M", big_files)

    def progressed():
        done = journal_rows(home, "SELECT COUNT(*) FROM tasks WHERE state IN "
                                  "('verified','registered')")
        return done and done[0][0] >= 5

    wait_for(progressed, what="some files done", proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    done_before = journal_rows(home, "SELECT key, size FROM tasks WHERE state IN "
                                     "('verified','registered')")
    inodes = {key: os.stat(dav.disk(key)).st_ino for key, _ in done_before}
    total = sum(p.stat().st_size for p in big_files.iterdir())
    assert cli("jobs", "--json", env=dav.env).json[0]["state"] == "interrupted"

    r = cli("--config", dav.ini, "resume", "1", "--json", env=dav.env)
    assert r.code == 0, r.err + r.out
    assert r.json["state"] == "completed" and r.json["files_ok"] == 22
    assert r.json["bytes_sent"] <= total - sum(size for _, size in done_before)
    for key, ino in inodes.items():  # nothing recorded as done was sent again
        assert os.stat(dav.disk(key)).st_ino == ino, key
    for p in big_files.iterdir():
        assert dav.disk(f"P/D/acq/{p.name}").read_bytes() == p.read_bytes(), p.name
    assert temp_files(dav.disk("")) == []
    cat = sqlite3.connect(home / "data" / "catalogue.sqlite")
    assert cat.execute("SELECT COUNT(*), COUNT(DISTINCT name) FROM datafiles").fetchone() == \
        (22, 22)


# -- what servers state ----------------------------------------------------------------------
def test_checksum_headers_are_read_as_servers_write_them():
    """Digest (RFC 3230, dCache) and OC-Checksum (ownCloud) forms, from their documentation."""
    sha = hashlib.sha256(b"abc")
    import base64
    assert parse_digest(f"sha-256={base64.b64encode(sha.digest()).decode()},adler32=024d0127") \
        == {"sha256": sha.hexdigest(), "adler32": "024d0127"}
    assert parse_digest("MD5=kAFQmDzST7DWlj99KOF/cg==") == \
        {"md5": "900150983cd24fb0d6963f7d28e17f72"}
    assert parse_oc_checksums("SHA1:a9993e364706816aba3e25717850c26c9cd0d89d MD5:900150983cd24fb0"
                              "d6963f7d28e17f72 ADLER32:24d0127") == {
        "sha1": "a9993e364706816aba3e25717850c26c9cd0d89d",
        "md5": "900150983cd24fb0d6963f7d28e17f72", "adler32": "024d0127"}


# -- the real OS keyring ---------------------------------------------------------------------
KEYRING_SCRIPT = r"""
set -e
echo -n unlock-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
printf '%s\n' "$DU_PW" | "$PY" -m datauploader --config "$CFG" credentials set basic --secret-stdin
printf '%s\n' "$DU_TOKEN" | "$PY" -m datauploader --config "$CFG" credentials set bearer \
    --secret-stdin
unset DU_PW DU_TOKEN
"$PY" -m datauploader --config "$CFG" upload --json --profile basic --proposal P --dataset D1 \
    "$DATA"
"$PY" -m datauploader --config "$CFG" upload --json --profile bearer --proposal P --dataset D2 \
    "$DATA"
"""


@pytest.mark.skipif(sys.platform != "linux" or not shutil.which("dbus-run-session")
                    or not shutil.which("gnome-keyring-daemon"),
                    reason="needs dbus-run-session and gnome-keyring-daemon")
def test_password_and_token_from_the_real_os_keyring(tmp_path, webdav_server, nginx_webdav):  # noqa: F811
    basic = DavRig("rclone", webdav_server, tmp_path)
    bearer = DavRig("nginx", nginx_webdav, tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.bin").write_bytes(os.urandom(3000))
    cfg = tmp_path / "k.ini"
    cfg.write_text(
        "[profile:basic]\ncatalogue = local\nstorage = basic\n"
        "[profile:bearer]\ncatalogue = local\nstorage = bearer\n"
        f"[storage:basic]\ntype = webdav\nurl = {basic.url}\nusername = {webdav_server.user}\n"
        f"[storage:bearer]\ntype = webdav\nurl = {bearer.url}\nauth = bearer\n")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATAUPLOADER_", "PYTHON_KEYRING"))}
    env.update({"DATAUPLOADER_HOME": str(home), "PY": sys.executable, "CFG": str(cfg),
                "DATA": str(data), "DU_PW": webdav_server.password, "DU_TOKEN": nginx_webdav.token,
                "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini"), "HOME": str(tmp_path)})
    r = subprocess.run(["dbus-run-session", "--", "sh", "-c", KEYRING_SCRIPT], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"Stored the secret for {webdav_server.user} at {basic.url} in the OS " \
                       "keyring (keyring.backends.SecretService.Keyring)."
    assert lines[1].startswith(f"Stored the secret for the token of {bearer.url}")
    rest = "\n".join(lines[2:])
    first, second = rest.split("\n}\n", 1)
    assert json.loads(first + "\n}")["files_ok"] == 1 and json.loads(second)["files_ok"] == 1
    assert basic.disk("P/D1/data/x.bin").read_bytes() == (data / "x.bin").read_bytes()
    assert bearer.disk("P/D2/data/x.bin").read_bytes() == (data / "x.bin").read_bytes()
    for secret in (webdav_server.password.encode(), nginx_webdav.token.encode()):
        for path in [cfg, *home.rglob("*")]:
            if path.is_file():
                assert secret not in path.read_bytes(), path


def test_quote_roundtrip_of_locations(webdav_server, tmp_path):  # noqa: F811
    dav = DavRig("rclone", webdav_server, tmp_path)
    storage = dav.storage()
    key = "P/D/ä b/#?%.txt"
    assert storage.location(key) == dav.url + "/" + "/".join(quote(p, safe="") for p in
                                                              key.split("/"))
    storage.close()


def test_the_example_configuration_is_valid(cli):
    example = Path(__file__).resolve().parents[2] / "resources" / "examples" / "storage-webdav.ini"
    r = cli("--config", example, "config", "check",
            env={"DATAUPLOADER_WEBDAV_PASSWORD": "x", "DATAUPLOADER_WEBDAV_TOKEN": "y"})
    assert r.code == 0, r.err
    assert r.out.endswith(f"Configuration OK ({example}).\n")


# -- verification: what each kind of server states ----------------------------------------
class StatingDAV:
    """A minimal WebDAV server in a thread, standing in for servers that state checksums
    (none of the servers above does, besides rclone's MD5 ETags): dCache answers
    ``Want-Digest`` with ``Digest: adler32=…`` on HEAD; ownCloud states ``OC-Checksum:
    SHA1:… MD5:… ADLER32:…`` in the PUT answer, or only as the ``oc:checksums`` property of a
    PROPFIND. ETags are opaque (``"<n>-<size>"``) or the MD5 of the content. Files whose
    name contains "damage" are stored with their first byte changed (a server that does not
    keep what it was sent); ``close_after_put`` closes the connection after each PUT's
    answer (a pipelined HEAD then goes unanswered). PROPFIND answers are chunked."""

    def __init__(self, put_oc=False, head_digest=False, propfind_oc=False, etag="opaque",
                 close_after_put=False):
        import http.server
        import zlib

        self.files: dict[str, bytes] = {}
        self.log: list[tuple[str, str]] = []
        rig = self

        def sums(data: bytes) -> dict:
            return {"sha1": hashlib.sha1(data).hexdigest(), "md5": hashlib.md5(data).hexdigest(),
                    "adler32": f"{zlib.adler32(data) & 0xffffffff:08x}"}

        def oc(data: bytes) -> str:
            s = sums(data)
            return f"SHA1:{s['sha1']} MD5:{s['md5']} ADLER32:{s['adler32']}"

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _answer(self, status, headers=(), body=b"", close=False):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _etag(self, data: bytes) -> str:
                return f'"{hashlib.md5(data).hexdigest()}"' if etag == "md5" else \
                    f'"{len(rig.files)}-{len(data)}"'

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_PUT(self):
                rig.log.append(("PUT", self.path))
                data = self._body()
                if "damage" in self.path and data:
                    data = bytes([data[0] ^ 1]) + data[1:]
                rig.files[self.path] = data
                headers = [("ETag", self._etag(data))]
                if put_oc:
                    headers.append(("OC-Checksum", oc(data)))
                self._answer(201, headers, close=close_after_put)

            def do_HEAD(self):
                rig.log.append(("HEAD", self.path))
                data = rig.files.get(self.path)
                if data is None:
                    return self._answer(404)
                headers = [("ETag", self._etag(data)), ("X-Length", str(len(data)))]
                if head_digest and self.headers.get("Want-Digest"):
                    headers.append(("Digest", f"adler32={sums(data)['adler32']}"))
                self.send_response(200)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()

            def do_GET(self):
                rig.log.append(("GET", self.path))
                data = rig.files.get(self.path)
                self._answer(404) if data is None else self._answer(200, body=data)

            def do_MKCOL(self):
                self._body()
                self._answer(201)

            def do_DELETE(self):
                rig.files.pop(self.path, None)
                self._answer(204)

            def do_MOVE(self):
                rig.log.append(("MOVE", self.path))
                dest = urlsplit(self.headers["Destination"]).path
                if dest in rig.files and self.headers.get("Overwrite") == "F":
                    return self._answer(412)
                rig.files[dest] = rig.files.pop(self.path)
                self._answer(201)

            def do_PROPFIND(self):
                rig.log.append(("PROPFIND", self.path))
                self._body()
                path = self.path.rstrip("/")
                if path in rig.files:
                    data = rig.files[path]
                    prop = (f"<d:getcontentlength>{len(data)}</d:getcontentlength>"
                            f"<d:getetag>{self._etag(data)}</d:getetag><d:resourcetype/>")
                    if propfind_oc:
                        prop += f"<oc:checksums><oc:checksum>{oc(data)}</oc:checksum></oc:checksums>"
                else:  # a folder (all folders exist here)
                    prop = "<d:resourcetype><d:collection/></d:resourcetype>"
                xml = ('<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" '
                       'xmlns:oc="http://owncloud.org/ns"><d:response>'
                       f"<d:href>{self.path}</d:href><d:propstat><d:prop>{prop}</d:prop>"
                       "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
                       "</d:multistatus>").encode()
                self.send_response(207)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(xml), 100):
                    piece = xml[i:i + 100]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")

        from urllib.parse import urlsplit

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/base"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _Ctx(TransferContext):
    cancel = threading.Event()

    def sent(self, n):
        pass


def _upload(storage, path, key, task_id=1):
    item = TransferItem(task_id=task_id, path=str(path), key=key, size=path.stat().st_size,
                        algorithm="sha256", job_uuid="job")
    return storage.upload(item, _Ctx())


@pytest.fixture
def stating_dav():
    servers = []

    def make(**kw):
        servers.append(StatingDAV(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


@pytest.mark.parametrize("kind, options, first, later", [
    ("dCache", dict(head_digest=True), "size+digest-adler32", "size+digest-adler32"),
    ("ownCloud", dict(put_oc=True), "oc-checksum-md5", "oc-checksum-adler32"),
    ("ownCloud, in PROPFIND only", dict(propfind_oc=True), "size+oc-checksum-md5",
     "size+oc-checksum-adler32"),
    ("MD5 ETags", dict(etag="md5"), "etag-md5", "etag-md5"),
    ("opaque ETags", dict(), "size", "size"),
    ("opaque ETags, connection closed after each PUT", dict(close_after_put=True), "size",
     "size"),
])
def test_auto_verification_uses_what_the_server_states(stating_dav, tmp_path, kind, options,
                                                       first, later):
    """verify = auto: the checksum the server states (learnt on the first file, then only the
    cheapest stated algorithm is computed), else the size it reports; never a read-back."""
    server = stating_dav(**options)
    storage = WebDAVStorage(url=server.url, auth="none")
    got = []
    for i, size in enumerate([3000, 0, 70_000, 300_000, 2 * MiB + 5]):  # small, streamed
        src = tmp_path / f"f{i}.bin"
        src.write_bytes(os.urandom(size))
        r = _upload(storage, src, f"P/D/f{i}.bin", task_id=i)
        assert server.files[f"/base/P/D/f{i}.bin"] == src.read_bytes()
        assert r.checksum == hashlib.sha256(src.read_bytes()).hexdigest()
        got.append(r.verified_by)
    storage.close()
    assert got[0] == first and set(got[1:]) == {later}, got
    assert not [m for m, _ in server.log if m == "GET"]  # nothing read back
    assert not [p for p in server.files if ".du-" in p]


@pytest.mark.parametrize("options", [dict(head_digest=True), dict(put_oc=True),
                                     dict(propfind_oc=True), dict(etag="md5")],
                         ids=["dCache", "ownCloud", "ownCloud-PROPFIND", "MD5-ETags"])
def test_a_server_that_keeps_other_bytes_is_caught_by_its_checksum(stating_dav, tmp_path,
                                                                   options):
    from datauploader.errors import VerificationError

    server = stating_dav(**options)
    storage = WebDAVStorage(url=server.url, auth="none")
    ok = tmp_path / "ok.bin"
    ok.write_bytes(os.urandom(5000))
    _upload(storage, ok, "P/D/ok.bin")  # (what the server states is learnt here)
    for i, size in enumerate([4000, 3 * MiB]):
        bad = tmp_path / f"damage{i}.bin"
        bad.write_bytes(os.urandom(size))
        with pytest.raises(VerificationError):
            _upload(storage, bad, f"P/D/damage{i}.bin", task_id=10 + i)
        assert f"/base/P/D/damage{i}.bin" not in server.files  # never moved into place
    storage.close()


def test_md5_etags_are_learnt_before_a_large_first_file(stating_dav, tmp_path):
    """A job whose first file is large: an empty PUT of a probe file (deleted at once) shows
    whether the ETags are MD5s, so that an opaque-ETag server costs no MD5 of the whole
    file."""
    for etag, expected in (("md5", "etag-md5"), ("opaque", "size")):
        server = stating_dav(etag=etag)
        storage = WebDAVStorage(url=server.url, auth="none")
        src = tmp_path / f"big-{etag}.bin"
        src.write_bytes(os.urandom(3 * MiB))
        assert _upload(storage, src, "P/D/big.bin").verified_by == expected
        assert storage._etag_is_md5 is (etag == "md5")
        assert server.files["/base/P/D/big.bin"] == src.read_bytes()
        assert [k for k in server.files if k.startswith("/base/P/D/")] == ["/base/P/D/big.bin"]
        storage.close()


def test_size_and_reread_modes_hash_nothing_extra(stating_dav, tmp_path):
    """verify = size | reread compares no server checksum: no MD5 of the content, no probe."""
    server = stating_dav(etag="md5")
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * MiB))
    for mode, expected in (("size", "size"), ("reread", "sha256-reread")):
        storage = WebDAVStorage(url=server.url, auth="none", verify=mode)
        assert storage._extra_algorithms("sha256") == ()
        assert _upload(storage, src, f"P/{mode}/big.bin").verified_by == expected
        assert storage._etag_is_md5 is False and not storage._probed
        assert server.files[f"/base/P/{mode}/big.bin"] == src.read_bytes()
        storage.close()


@pytest.mark.parametrize("dav", ["rclone", "nginx"], indirect=True)
@pytest.mark.parametrize("mode, expected", [("size", "size"), ("reread", "sha256-reread")])
def test_verify_size_and_reread(cli, dav, files, mode, expected):
    dav.write(extra=f"verify = {mode}\n")
    r = cli("--config", dav.ini, "upload", "--json", "--proposal", "P", "--dataset", "D", files,
            env=dav.env)
    assert r.code == ExitCode.OK, r.err + r.out
    job = cli("jobs", "1", "--json", env=dav.env).json
    assert {f["verified_by"] for f in job["files"]} == {expected}
    for key, content in expected_keys(files).items():
        assert dav.disk(key).read_bytes() == content, key
