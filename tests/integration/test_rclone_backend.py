"""The rclone storage backend, driving a real ``rclone rcd`` through its rc API, against real
servers on loopback: ``rclone serve webdav`` as a remote from a facility's rclone.conf, and
``rclone serve sftp`` as a remote defined inline.

Jobs complete and verify (by the remote's hash where it has one, else the size), progress and
cancel reach rclone, nothing is overwritten, wrong credentials and unreachable servers are
plain errors, a killed uploader leaves no rclone behind and resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from datauploader.catalogue.local import LocalCatalogue
from datauploader.core.controls import JobControls
from datauploader.core.engine import Engine, EngineSettings
from datauploader.core.journal import Journal
from datauploader.core.keys import dataset_key
from datauploader.core.models import DatasetDefinition
from datauploader.core.planner import Planner
from datauploader.core.retry import RetryPolicy
from datauploader.errors import ExitCode, RemoteExistsError, UserFacingError
from datauploader.events import BytesSent, RecordingSubscriber
from datauploader.storage.base import TransferContext, TransferItem
from datauploader.storage.rclone.backend import RcloneStorage, parse_remote_settings
from datauploader.storage.rclone.errors import classify_rclone_error
from datauploader.storage.rclone.rcd import check_version
from tests.integration.test_kill_and_resume import journal_rows, spawn, wait_for
from tests.servers.loopback import wait_until
from tests.servers.rclone_s3 import find_rclone, free_port
from tests.servers.rclone_sftp import rclone_sftp_server  # noqa: F401
from tests.servers.rclone_webdav import webdav_server  # noqa: F401

pytestmark = pytest.mark.integration
MiB = 1 << 20


def obscure(secret: str) -> str:
    """rclone's own obscured form, as it writes passwords into an rclone.conf."""
    return subprocess.run([find_rclone(), "obscure", secret], capture_output=True, text=True,
                          check=True).stdout.strip()


class WebDAVRemote:
    """A facility's rclone.conf with a WebDAV remote 'facility', a fresh folder on the server,
    and our configuration pointing at both."""

    def __init__(self, server, tmp_path, password=None, extra=""):
        self.server = server
        self.base = f"r{uuid.uuid4().hex[:10]}"
        server.put(f"{self.base}/.keep", b"")
        self.conf = tmp_path / "facility-rclone.conf"
        self.conf.write_text(
            f"[facility]\ntype = webdav\nurl = {server.url}\nvendor = other\n"
            f"user = {server.user}\npass = {obscure(password or server.password)}\n")
        self.ini = tmp_path / "rclone.ini"
        self.ini.write_text(
            "[settings]\ndefault_profile = rc\n[profile:rc]\ncatalogue = local\nstorage = r\n"
            f"[storage:r]\ntype = rclone\nremote = facility:{self.base}\n"
            f"rclone_config = {self.conf}\nrclone_flags = --webdav-pacer-min-sleep 0\n{extra}")

    def disk(self, key):
        return self.server.path_of(f"{self.base}/{key}")

    def storage(self, flags="--webdav-pacer-min-sleep 0") -> RcloneStorage:
        return RcloneStorage(remote=f"facility:{self.base}", rclone_config=str(self.conf),
                             rclone_flags=flags, storage_name="r")


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "data" / "run"
    (root / "sub dir").mkdir(parents=True)
    content = {"a.h5": os.urandom(5000), "empty.txt": b"", "unicodé ✓.dat": b"unicode",
               "sub dir/with space #1 100%.txt": b"odd", "big.raw": os.urandom(10 * MiB + 5)}
    for rel, data in content.items():
        (root / rel).write_bytes(data)
    return root


def expected(data_root, dataset="D"):
    return {f"P/{dataset}/run/{p.relative_to(data_root).as_posix()}": p.read_bytes()
            for p in data_root.rglob("*") if p.is_file()}


def test_remote_from_the_facilitys_rclone_conf(cli, webdav_server, files, tmp_path):  # noqa: F811
    remote = WebDAVRemote(webdav_server, tmp_path)
    r = cli("--config", remote.ini, "upload", "--json", "--proposal", "P", "--dataset", "D",
            files)
    assert r.code == ExitCode.OK, r.err + r.out
    assert r.json["files_ok"] == 5
    for key, content in expected(files).items():
        assert remote.disk(key).read_bytes() == content, key
    job = cli("jobs", "1", "--json").json
    # a WebDAV remote of the 'other' vendor states no hash: size, then our own read-backs
    assert {f["verified_by"] for f in job["files"]} == {"size"}
    assert {f["location"] for f in job["files"] if f["name"] == "run/a.h5"} == \
        {f"facility:{remote.base}/P/D/run/a.h5"}
    r = cli("--config", remote.ini, "verify", "1")  # reads every object back through rcd
    assert r.code == 0 and "5 of 5 files verified (full); all good." in r.out
    r = cli("--config", remote.ini, "upload", "--json", "--proposal", "P", "--dataset", "D",
            files)
    assert r.code == 0 and r.json["bytes_sent"] == 0 and r.json["files_ok"] == 5
    job = cli("jobs", "2", "--json").json
    assert {f["verified_by"] for f in job["files"]} == {"already present (sha256-reread)"}


def test_inline_remote_verified_by_the_remotes_md5(cli, rclone_sftp_server, files, tmp_path):  # noqa: F811
    s = rclone_sftp_server
    known = tmp_path / "known_hosts"
    known.write_text(s.host_key_line + "\n")
    ini = tmp_path / "inline.ini"
    ini.write_text(
        "[settings]\ndefault_profile = rc\n[profile:rc]\ncatalogue = local\nstorage = r\n"
        f"[storage:r]\ntype = rclone\nremote = beam:/inline{uuid.uuid4().hex[:6]}\n"
        f"remote_settings = type=sftp host=127.0.0.1 port={s.port} user={s.user} "
        f"key_file={s.client_key} known_hosts_file={known}\n")
    r = cli("--config", ini, "upload", "--json", "--proposal", "P", "--dataset", "D", files)
    assert r.code == 0, r.err + r.out
    job = cli("jobs", "1", "--json").json
    assert {f["verified_by"] for f in job["files"]} == {"size+remote-md5"}
    prefix = ini.read_text().split("remote = beam:/")[1].split("\n")[0]
    for key, content in expected(files).items():
        path = s.root / prefix / key
        wait_until(lambda: path.is_file() and path.stat().st_size == len(content), timeout=30,
                   what=key)
        assert path.read_bytes() == content


def test_secrets_are_refused_in_inline_settings(cli, tmp_path, files):
    ini = tmp_path / "bad.ini"
    ini.write_text("[profile:rc]\ncatalogue = local\nstorage = r\n[storage:r]\ntype = rclone\n"
                   "remote = beam:x\nremote_settings = type=webdav url=http://h user=u pass=abc\n")
    r = cli("--config", ini, "upload", "--profile", "rc", "--proposal", "P", "--dataset", "D",
            files)
    assert r.code == ExitCode.USAGE
    assert "remote_settings" in r.err and "RCLONE_CONFIG_<REMOTE>_PASS" in r.err
    with pytest.raises(UserFacingError):
        parse_remote_settings("type=s3 secret_access_key=x", "r")
    assert parse_remote_settings("type=webdav url='http://h/a b'", "r") == {
        "type": "webdav", "url": "http://h/a b"}


def test_wrong_credentials_and_an_unreachable_server(cli, webdav_server, files, tmp_path):  # noqa: F811
    remote = WebDAVRemote(webdav_server, tmp_path, password="wrong-password")
    r = cli("--config", remote.ini, "upload", "--proposal", "P", "--dataset", "D", files)
    assert r.code == ExitCode.AUTH and "refused rclone's credentials" in r.err
    port = free_port()
    remote.conf.write_text(remote.conf.read_text().replace(str(webdav_server.port), str(port)))
    remote.ini.write_text(remote.ini.read_text().replace("[settings]\n",
                                                         "[settings]\nretries = 2\n"))
    r = cli("--config", remote.ini, "upload", "--json", "--proposal", "P", "--dataset", "E",
            files)
    assert r.code == ExitCode.UNREACHABLE and "resume" in r.json["error"]
    assert classify_rclone_error("Propfind \"http://127.0.0.1:1/\": dial tcp 127.0.0.1:1: "
                                 "connect: connection refused") == "unreachable"


def test_the_rclone_binary_is_found_and_its_version_checked(cli, tmp_path, files,
                                                           webdav_server):  # noqa: F811
    remote = WebDAVRemote(webdav_server, tmp_path,
                          extra=f"rclone_path = {tmp_path / 'no-rclone-here'}\n")
    r = cli("--config", remote.ini, "upload", "--proposal", "P", "--dataset", "D", files)
    assert r.code != 0 and "rclone_path points to" in r.err
    with pytest.raises(UserFacingError, match=r"version v1\.59\.0; DataUploader needs rclone "
                                              r"1\.60 or later"):
        check_version({"version": "v1.59.0", "decomposed": [1, 59, 0]}, "/opt/rclone")
    assert check_version({"version": "v1.75.2", "decomposed": [1, 75, 2]}, "x") == (1, 75, 2)
    storage = remote.storage()
    storage.check()  # starts rcd, which reports its version through the rc API
    assert storage._rcd_proc.version >= (1, 60, 0)
    storage.close()


# -- engine level: progress, cancel, never overwrite ------------------------------------------
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

    def engine(self, subscribers=(), workers=2, bandwidth_limit="off"):
        return Engine(self.journal, self.storage, self.catalogue,
                      EngineSettings(workers=workers, retry=RetryPolicy(attempts=2,
                                                                        base_delay=0.1),
                                     bandwidth_limit=bandwidth_limit),
                      subscribers=subscribers, lock_dir=str(self.tmp / "locks"))

    def close(self):
        self.storage.close()
        self.journal.close()
        self.catalogue.close()


def _one_file(tmp_path, size: int):
    """A folder "one" holding vol.raw of ``size`` random bytes: (folder, content)."""
    data = tmp_path / "one"
    data.mkdir()
    content = os.urandom(size)
    (data / "vol.raw").write_bytes(content)
    return data, content


def test_progress_reaches_the_engine_and_cancel_stops_rclone(webdav_server, tmp_path):  # noqa: F811
    remote = WebDAVRemote(webdav_server, tmp_path)
    data, content = _one_file(tmp_path, 24 * MiB)
    storage = remote.storage(flags="--webdav-pacer-min-sleep 0 --bwlimit 6M")
    er = EngineRig(storage, tmp_path, data)
    job_id = er.job()
    controls = JobControls()
    rec = RecordingSubscriber()
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("done",
                                                          er.engine([rec]).run(job_id, controls)))
    t.start()
    wait_until(lambda: len(rec.of(BytesSent)) >= 3, timeout=60, what="progress while copying")
    cancelled_at = time.monotonic()
    controls.cancel()
    t.join(timeout=60)
    assert result["done"].state == "cancelled"
    assert time.monotonic() - cancelled_at < 15  # job/stop and a bounded wait
    sent = sum(e.nbytes for e in rec.of(BytesSent))
    assert 0 < sent < len(content)
    rcd = storage._rcd()
    ids = rcd.call("job/list", {})["jobids"]
    assert all(rcd.call("job/status", {"jobid": i})["finished"] for i in ids)
    assert not remote.disk("P/D/one/vol.raw").exists()
    # resume: the whole file (rclone cannot append), its progress in several steps
    storage.close()
    er.storage = remote.storage()  # the same remote, without rclone's bandwidth limit
    rec = RecordingSubscriber()
    done = er.engine([rec]).run(job_id)
    assert done.state == "completed"
    assert sum(e.nbytes for e in rec.of(BytesSent)) == len(content)
    assert remote.disk("P/D/one/vol.raw").read_bytes() == content
    er.close()


def test_the_jobs_bandwidth_limit_holds_inside_a_file(webdav_server, tmp_path):  # noqa: F811
    """rclone moves the bytes in its own process: it is given the job's limit (core/bwlimit),
    so that one large file cannot run past it."""
    remote = WebDAVRemote(webdav_server, tmp_path)
    data, content = _one_file(tmp_path, 12 * MiB)
    storage = remote.storage(flags="--webdav-pacer-min-sleep 0")
    er = EngineRig(storage, tmp_path, data)
    job_id = er.job()
    started = time.monotonic()
    done = er.engine(bandwidth_limit="4M").run(job_id)
    took = time.monotonic() - started
    assert done.state == "completed"
    assert remote.disk("P/D/one/vol.raw").read_bytes() == content
    assert storage._rcd().call("core/bwlimit", {})["bytesPerSecond"] == 4 * MiB
    # 12 MiB at 4 MiB/s (rclone allows a burst of a second or so): not in a blink
    assert took >= 1.5, took
    er.close()


@pytest.mark.parametrize("theirs", [b"x" * 4096, b"short"], ids=["same-size", "other-size"])
def test_a_file_appearing_after_the_listing_is_not_overwritten(webdav_server, tmp_path,  # noqa: F811
                                                               theirs):
    remote = WebDAVRemote(webdav_server, tmp_path)
    src = tmp_path / "x.bin"
    src.write_bytes(os.urandom(4096))
    storage = remote.storage()
    storage.check()
    key = "P/D/x.bin"
    webdav_server.put(f"{remote.base}/{key}", theirs)  # created by someone else meanwhile
    item = TransferItem(task_id=1, path=str(src), key=key, size=4096, algorithm="sha256",
                        job_uuid=uuid.uuid4().hex)

    class Ctx(TransferContext):
        cancel = threading.Event()

        def sent(self, n):
            pass

    with pytest.raises(RemoteExistsError, match="not overwritten"):
        storage.upload(item, Ctx())
    storage.close()
    assert remote.disk(key).read_bytes() == theirs


def test_a_foreign_file_listed_before_the_job_is_not_overwritten(cli, webdav_server, files,  # noqa: F811
                                                                 tmp_path):
    remote = WebDAVRemote(webdav_server, tmp_path)
    webdav_server.put(f"{remote.base}/P/D/run/a.h5", b"n" * 5000)  # same size, not ours
    r = cli("--config", remote.ini, "upload", "--json", "--proposal", "P", "--dataset", "D",
            files)
    assert r.code == ExitCode.INCOMPLETE
    assert [f["name"] for f in r.failed] == ["run/a.h5"]
    assert remote.disk("P/D/run/a.h5").read_bytes() == b"n" * 5000


def rcd_processes(marker: str) -> list[psutil.Process]:
    """rclone rcd processes whose command line names ``marker`` (read only)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info.get("cmdline") or []
        if "rcd" in cmd and any(marker in c for c in cmd):
            found.append(p)
    return found


def test_sigkill_leaves_no_rclone_behind_and_resume_completes(cli, webdav_server, tmp_path,  # noqa: F811
                                                              home):
    remote = WebDAVRemote(webdav_server, tmp_path)
    remote.ini.write_text(remote.ini.read_text().replace(
        "rclone_flags = --webdav-pacer-min-sleep 0", "rclone_flags = --webdav-pacer-min-sleep 0 "
        "--bwlimit 8M").replace("[settings]\n", "[settings]\nworkers = 2\n"))
    data = tmp_path / "data" / "acq"
    data.mkdir(parents=True)
    for i in range(16):
        (data / f"frame_{i:03d}.raw").write_bytes(os.urandom(512 * 1024))
    (data / "volume.h5").write_bytes(os.urandom(20 * MiB))
    proc = spawn(cli.env, "--config", remote.ini, "upload", "--proposal", "P", "--dataset", "D",
                 data)

    def progressed():
        done = journal_rows(home, "SELECT COUNT(*) FROM tasks WHERE state IN "
                                  "('verified','registered')")
        return done and done[0][0] >= 3 and rcd_processes(str(remote.conf))

    wait_for(progressed, what="some files done", proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # rclone was told to follow us (PR_SET_PDEATHSIG): no upload goes on behind our back
    wait_until(lambda: not rcd_processes(str(remote.conf)), timeout=30,
               what="rclone rcd to end with the killed uploader")
    done_before = journal_rows(home, "SELECT key, size FROM tasks WHERE state IN "
                                     "('verified','registered')")
    inodes = {key: os.stat(remote.disk(key)).st_ino for key, _ in done_before}
    total = sum(p.stat().st_size for p in data.iterdir())
    r = cli("--config", remote.ini, "resume", "1", "--json")
    assert r.code == 0, r.err + r.out
    assert r.json["files_ok"] == 17
    assert r.json["bytes_sent"] <= total - sum(size for _, size in done_before)
    for key, ino in inodes.items():
        assert os.stat(remote.disk(key)).st_ino == ino, key
    for p in data.iterdir():
        assert remote.disk(f"P/D/acq/{p.name}").read_bytes() == p.read_bytes(), p.name
    assert not rcd_processes(str(remote.conf))  # the CLI stopped its rcd when it ended


def test_close_stops_rcd_politely(webdav_server, tmp_path):  # noqa: F811
    remote = WebDAVRemote(webdav_server, tmp_path)
    storage = remote.storage()
    storage.check()
    proc = storage._rcd_proc.proc
    assert proc.poll() is None
    storage.close()
    assert proc.poll() == 0  # core/quit: it ended by itself, not by a signal


def test_the_example_configuration_is_valid(cli):
    example = Path(__file__).resolve().parents[2] / "resources" / "examples" / "storage-rclone.ini"
    r = cli("--config", example, "config", "check")
    assert r.code == 0, r.err
    assert r.out.endswith(f"Configuration OK ({example}).\n")
