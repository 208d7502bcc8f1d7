"""SFTP storage against real servers on loopback: OpenSSH's sshd and ``rclone serve sftp``.

Jobs from the command line and from the engine: every file identical and verified (by the
server's checksum command for large files, by reading back for small ones), nothing
overwritten, wrong credentials, a server killed mid-transfer and restarted, the uploader
SIGKILLed and resumed (appending to the partial file, not sending it again)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import paramiko
import psutil
import pytest

from datauploader.catalogue.local import LocalCatalogue
from datauploader.core.controls import JobControls
from datauploader.core.engine import Engine, EngineSettings
from datauploader.core.journal import Journal
from datauploader.core.keys import dataset_key
from datauploader.core.models import DatasetDefinition, TaskState
from datauploader.core.planner import Planner
from datauploader.core.progress import ProgressTracker
from datauploader.core.retry import RetryPolicy
from datauploader.errors import AuthError, ExitCode, RemoteExistsError, UnsafeKeyError
from datauploader.events import BytesSent, FileDone, FileRetrying, RecordingSubscriber, Subscriber
from datauploader.source import SourceReader
from datauploader.storage.base import TransferContext, TransferItem
from datauploader.storage.sftp.backend import SFTPStorage
from datauploader.storage.sftp.hostkeys import KnownHosts
from tests.integration.test_kill_and_resume import journal_rows, spawn, wait_for
from tests.servers.loopback import ssh_keypair, wait_until
from tests.servers.rclone_sftp import RcloneSFTPServer, rclone_sftp_server  # noqa: F401
from tests.servers.sshd import SshdServer, sshd_server, sshd_unavailable  # noqa: F401

pytestmark = pytest.mark.integration
MiB = 1 << 20


# -- rigs ------------------------------------------------------------------------------------
class Rig:
    """One server, a fresh prefix on it, a configuration file and an environment whose
    ~/.ssh/known_hosts knows the server (as an OpenSSH user's would)."""

    def __init__(self, kind, server, tmp_path, extra="", settings="", trusted=True):
        self.kind, self.server, self.tmp = kind, server, tmp_path
        self.proposal = f"P{uuid.uuid4().hex[:8]}"
        self.home = tmp_path / "userhome"
        (self.home / ".ssh").mkdir(parents=True, exist_ok=True)
        self.known_hosts = self.home / ".ssh" / "known_hosts"
        self.known_hosts.write_text(server.host_key_line + "\n" if trusted else "")
        self.path = str(server.root) if kind == "sshd" else "/"
        self.env = {"HOME": str(self.home)}
        self.ini = tmp_path / f"sftp-{kind}.ini"
        self.write(extra, settings)

    def write(self, extra="", settings=""):
        s = self.server
        self.ini.write_text(
            "[settings]\ndefault_profile = sftp\n" + settings +
            "\n[profile:sftp]\ncatalogue = local\nstorage = s\n"
            f"[storage:s]\ntype = sftp\nhost = 127.0.0.1\nport = {s.port}\nusername = {s.user}\n"
            f"path = {self.path}\nkey_file = {s.client_key}\nuse_agent = no\n{extra}")
        return self.ini

    def disk(self, key: str):
        return self.server.path_of(key)

    def storage(self, **kw) -> SFTPStorage:
        known = KnownHosts(str(self.tmp / "own_known_hosts"), (str(self.known_hosts),))
        args = dict(host="127.0.0.1", port=self.server.port, username=self.server.user,
                    path=self.path, key_file=str(self.server.client_key), use_agent=False,
                    known_hosts=known, storage_name="s")
        args.update(kw)
        return SFTPStorage(**args)

    @contextlib.contextmanager
    def reference_client(self):
        """paramiko used directly, as another program would: for cross-checks."""
        c = paramiko.SSHClient()
        kind, blob = self.server.host_public.split()[:2]
        c.get_host_keys().add(f"[127.0.0.1]:{self.server.port}", kind,
                              paramiko.PKey.from_type_string(kind, __import__("base64")
                                                             .b64decode(blob)))
        c.connect("127.0.0.1", self.server.port, username=self.server.user,
                  key_filename=str(self.server.client_key), look_for_keys=False,
                  allow_agent=False)
        try:
            yield c.open_sftp()
        finally:
            c.close()

    def remote_path(self, key: str) -> str:
        return f"{self.path.rstrip('/')}/{key}"

    def wait_identical(self, key: str, content: bytes):
        """rclone writes files back from its cache when they are closed: poll for it."""
        wait_until(lambda: self.disk(key).is_file() and self.disk(key).stat().st_size
                   == len(content), timeout=30, what=f"{key} on the server's disk")
        assert self.disk(key).read_bytes() == content, key


@pytest.fixture(params=["sshd", "rclone"])
def rig(request, tmp_path):
    if request.param == "sshd":
        server = request.getfixturevalue("sshd_server")
    else:
        server = request.getfixturevalue("rclone_sftp_server")
    return Rig(request.param, server, tmp_path)


@pytest.fixture
def own_server(tmp_path):
    """``own_server(kind, **options)``: a server for this test alone (for tests that kill it
    or need special options), stopped at the end whatever happens."""
    started = []

    def make(kind, **kw):
        if kind == "sshd" and sshd_unavailable():
            pytest.skip(sshd_unavailable())
        server = (SshdServer if kind == "sshd" else RcloneSFTPServer)(
            tmp_path / f"own-{kind}-{len(started)}", **kw)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def files(tmp_path):
    """Small files, an empty one, awkward names (one that would run a command if a shell
    command line were built carelessly), and a file large enough for the server's checksum."""
    root = tmp_path / "data" / "run"
    (root / "sub dir").mkdir(parents=True)
    content = {"a.h5": os.urandom(5000), "empty.txt": b"", "unicodé ✓.dat": b"unicode",
               "sub dir/with space #1.txt": b"odd",
               "it's $(touch PWNED).bin": os.urandom(9 * MiB + 3),
               "big.raw": os.urandom(12 * MiB + 1)}
    for rel, data in content.items():
        (root / rel).write_bytes(data)
    return root


def keys_of(data_root, proposal, dataset="D"):
    return {f"{proposal}/{dataset}/run/{p.relative_to(data_root).as_posix()}": p.read_bytes()
            for p in data_root.rglob("*") if p.is_file()}


class EngineRig:
    def __init__(self, storage, tmp, data, proposal):
        self.storage, self.tmp, self.data, self.proposal = storage, tmp, data, proposal
        self.journal = Journal(str(tmp / "journal.sqlite"))
        self.catalogue = LocalCatalogue(str(tmp / "cat.sqlite"))

    def job(self, name="D"):
        d = DatasetDefinition(proposal=self.proposal, name=name, paths=[str(self.data)])
        prefix = f"{self.proposal}/{name}"
        plan = Planner(self.storage.name_rules).plan(d.paths, prefix)
        key = dataset_key(self.catalogue.describe(), self.proposal, name,
                          self.storage.describe(), prefix)
        return self.journal.create_job(profile="t", catalogue=self.catalogue.describe(),
                                       storage=self.storage.describe(), prefix=prefix,
                                       definition=d, files=plan.files, dataset_key=key)

    def engine(self, subscribers=(), workers=2, attempts=3, bwlimit="off"):
        policy = RetryPolicy(attempts=attempts, base_delay=0.2, factor=1.5, max_delay=1.0)
        return Engine(self.journal, self.storage, self.catalogue,
                      EngineSettings(workers=workers, retry=policy, bandwidth_limit=bwlimit),
                      subscribers=subscribers, lock_dir=str(self.tmp / "locks"))

    def close(self):
        self.storage.close()
        self.journal.close()
        self.catalogue.close()


def temp_files(root):
    return [p for p in root.rglob(".*.part") if ".du-" in p.name]


def temp_sizes(root) -> list[int]:
    """Sizes of our temporary files under root (they come and go while a job runs)."""
    out = []
    for p in temp_files(root) if root.exists() else []:
        try:
            out.append(p.stat().st_size)
        except FileNotFoundError:
            pass
    return out


# -- whole jobs ------------------------------------------------------------------------------
def test_upload_job_identical_and_verified_then_rerun_sends_nothing(cli, rig, files, home):
    env = rig.env
    rig.write(settings="workers = 1\n")  # one file after the other: what is learnt is known
    r = cli("--config", rig.ini, "upload", "--json", "--proposal", rig.proposal, "--dataset", "D",
            files, env=env)
    assert r.code == ExitCode.OK, r.err + r.out
    assert r.json["files_ok"] == 6
    for key, content in keys_of(files, rig.proposal).items():
        rig.wait_identical(key, content)
    # the command line was never built carelessly: nothing ran '$(touch PWNED)'
    assert not list(rig.server.workdir.rglob("PWNED")) and not (home / "PWNED").exists()
    job = cli("jobs", "1", "--json", env=env).json
    how = {f["name"]: f["verified_by"] for f in job["files"]}
    # the server's checksum: sha1sum on OpenSSH, md5sum on rclone (it has the MD5 already)
    command = "sha1" if rig.kind == "sshd" else "md5"
    assert how["run/big.raw"] == f"size+server-{command}"
    assert how["run/it's $(touch PWNED).bin"] == f"size+server-{command}"
    # files under 8 MiB: the size the server reports (a checksum command per small file
    # would cost more than it proves: OpenSSH starts a process for each)
    assert {how[f["name"]] for f in job["files"] if f["size"] < 8 * MiB} == {"size"}
    by_name = {f["name"]: f for f in job["files"]}
    assert by_name["run/big.raw"]["checksum"] == hashlib.sha256(
        (files / "big.raw").read_bytes()).hexdigest()
    port = rig.server.port
    assert by_name["run/a.h5"]["location"] == \
        f"sftp://127.0.0.1:{port}{rig.path.rstrip('/')}/{rig.proposal}/D/run/a.h5"
    assert temp_files(rig.server.root) == []
    r = cli("--config", rig.ini, "verify", "1", env=env)
    assert r.code == 0 and "6 of 6 files verified (full); all good." in r.out
    r = cli("--config", rig.ini, "upload", "--json", "--proposal", rig.proposal, "--dataset", "D",
            files, env=env)
    assert r.code == 0 and r.json["bytes_sent"] == 0 and r.json["files_ok"] == 6


def test_a_foreign_file_is_never_overwritten(cli, rig, files):
    foreign = b"not ours, same name"
    with rig.reference_client() as ref:
        for part in (rig.proposal, f"{rig.proposal}/D", f"{rig.proposal}/D/run"):
            ref.mkdir(rig.remote_path(part))
        with ref.open(rig.remote_path(f"{rig.proposal}/D/run/a.h5"), "wb") as f:
            f.write(foreign)
    r = cli("--config", rig.ini, "upload", "--json", "--proposal", rig.proposal, "--dataset", "D",
            files, env=rig.env)
    assert r.code == ExitCode.INCOMPLETE
    assert [f["name"] for f in r.failed] == ["run/a.h5"]
    assert "not overwritten" in r.failed[0]["error"]
    rig.wait_identical(f"{rig.proposal}/D/run/a.h5", foreign)


def test_a_file_appearing_after_the_listing_is_not_overwritten(rig, tmp_path):
    """The race the listing cannot see: the target is created by someone else between the
    job's listing and the move into place."""
    src = tmp_path / "x.bin"
    src.write_bytes(os.urandom(3000))
    storage = rig.storage()
    storage.check()
    key = f"{rig.proposal}/D/x.bin"
    item = TransferItem(task_id=7, path=str(src), key=key, size=3000, algorithm="sha256",
                        job_uuid=uuid.uuid4().hex)

    class Ctx(TransferContext):
        cancel = threading.Event()

        def sent(self, n):
            if not getattr(self, "done", False):  # the other client writes the target now
                self.done = True
                with rig.reference_client() as ref, ref.open(rig.remote_path(key), "wb") as f:
                    f.write(b"theirs")

    ctx = Ctx()
    with pytest.raises(RemoteExistsError, match="not overwritten"):
        storage.upload(item, ctx)
    storage.cleanup_task(item, ctx)
    storage.close()
    rig.wait_identical(key, b"theirs")
    assert temp_files(rig.server.root / rig.proposal) == []


def test_wrong_key_is_refused_with_the_auth_exit_code(cli, rig, files, tmp_path):
    ssh_keypair(tmp_path / "stranger")
    rig.ini.write_text(rig.ini.read_text().replace(str(rig.server.client_key),
                                                   str(tmp_path / "stranger")))
    r = cli("--config", rig.ini, "upload", "--proposal", rig.proposal, "--dataset", "D", files,
            env=rig.env)
    assert r.code == ExitCode.AUTH, r.err
    assert f"refused the key {tmp_path / 'stranger'} for user {rig.server.user}" in r.err
    assert not (rig.server.root / rig.proposal).exists()


def test_password_login_from_the_environment_and_a_wrong_password(cli, rclone_sftp_server,  # noqa: F811
                                                                  files, tmp_path):
    rig = Rig("rclone", rclone_sftp_server, tmp_path)
    rig.ini.write_text(rig.ini.read_text().replace(f"key_file = {rclone_sftp_server.client_key}\n",
                                                   ""))
    r = cli("--config", rig.ini, "upload", "--proposal", rig.proposal, "--dataset", "D", files,
            env={**rig.env, "DATAUPLOADER_SFTP_PASSWORD": "wrong-password-123"})
    assert r.code == ExitCode.AUTH
    assert "refused the password for user jdoe" in r.err and "wrong-password-123" not in r.err
    r = cli("--config", rig.ini, "upload", "--json", "--proposal", rig.proposal, "--dataset",
            "D", files, env={**rig.env, "DATAUPLOADER_SFTP_PASSWORD": rclone_sftp_server.password})
    assert r.code == 0, r.err
    assert r.json["files_ok"] == 6
    r = cli("--config", rig.ini, "upload", "--proposal", rig.proposal, "--dataset", "E", files,
            env=rig.env)
    assert r.code == ExitCode.AUTH and "DATAUPLOADER_SFTP_PASSWORD" in r.err


def test_key_protected_by_a_passphrase(cli, sshd_server, files, tmp_path):  # noqa: F811
    rig = Rig("sshd", sshd_server, tmp_path)
    locked = tmp_path / "locked_key"
    public = ssh_keypair(locked, passphrase="correct horse")
    with open(sshd_server.workdir / "authorized_keys", "a") as f:
        f.write(public + "\n")
    rig.ini.write_text(rig.ini.read_text().replace(str(sshd_server.client_key), str(locked)))
    r = cli("--config", rig.ini, "upload", "--proposal", rig.proposal, "--dataset", "D", files,
            env=rig.env)
    assert r.code == ExitCode.AUTH and "protected by a passphrase" in r.err
    assert "DATAUPLOADER_SFTP_PASSPHRASE" in r.err
    r = cli("--config", rig.ini, "upload", "--json", "--proposal", rig.proposal, "--dataset",
            "D", files, env={**rig.env, "DATAUPLOADER_SFTP_PASSPHRASE": "correct horse"})
    assert r.code == 0 and r.json["files_ok"] == 6


def test_keyring_is_asked_for_a_passphrase_only_when_the_key_needs_one(sshd_server, tmp_path,  # noqa: F811
                                                                       files):
    """Reading the OS keyring costs every start its import and a D-Bus round trip: an
    unprotected key never asks it; a protected one asks once, and gets in with the answer."""
    from datauploader.app.credentials import SecretStore
    from datauploader.app.paths import resolve
    from datauploader.app.service import BuildContext

    class Recording(SecretStore):
        def __init__(self, stored):
            super().__init__({}, use_keyring=False)
            self.stored, self.asked = stored, []

        def get(self, service, user):
            self.asked.append((service, user))
            return self.stored

    rig = Rig("sshd", sshd_server, tmp_path)
    locked = tmp_path / "locked_key"
    with open(sshd_server.workdir / "authorized_keys", "a") as f:
        f.write(ssh_keypair(locked, passphrase="battery staple") + "\n")
    env = {"DATAUPLOADER_HOME": str(tmp_path / "home"), "HOME": str(rig.home)}
    options = dict(host="127.0.0.1", port=str(sshd_server.port), username=sshd_server.user,
                   path=rig.path, use_agent=False)
    src = Path(files) / "a.h5"

    class Ctx(TransferContext):
        cancel = threading.Event()

    for key_file, stored, asked in ((sshd_server.client_key, None, 0),
                                    (locked, "battery staple", 1)):
        secrets = Recording(stored)
        ctx = BuildContext(section="s", env=env, secrets=secrets, paths=resolve(env))
        storage = SFTPStorage.from_config({**options, "key_file": str(key_file)}, ctx)
        key = f"{rig.proposal}/P{asked}/{src.name}"
        item = TransferItem(task_id=1, path=str(src), key=key, size=src.stat().st_size,
                            algorithm="sha256", job_uuid=uuid.uuid4().hex)
        assert storage.upload(item, Ctx()).size == src.stat().st_size
        storage.close()
        assert len(secrets.asked) == asked
        rig.wait_identical(key, src.read_bytes())


def test_unreachable_server_is_retried_then_resumable(cli, tmp_path, files, sshd_server):  # noqa: F811
    rig = Rig("sshd", sshd_server, tmp_path)
    from tests.servers.rclone_s3 import free_port
    port = free_port()
    rig.ini.write_text(rig.ini.read_text().replace(f"port = {sshd_server.port}", f"port = {port}")
                       .replace("[settings]\n", "[settings]\nretries = 2\n"))
    r = cli("--config", rig.ini, "upload", "--json", "--proposal", rig.proposal, "--dataset", "D",
            files, env=rig.env)
    assert r.code == ExitCode.UNREACHABLE
    assert f"127.0.0.1:{port}" in r.json["error"] and "resume 1" in r.json["error"]


# -- the server's checksum command -----------------------------------------------------------
def test_without_remote_commands_large_files_are_verified_by_size(cli, tmp_path, files,
                                                                  own_server):
    """An account limited to SFTP (ForceCommand internal-sftp) cannot run sha1sum: the
    upload falls back to the size the server reports, at once (no waiting for a timeout)."""
    server = own_server("sshd", extra_config="ForceCommand internal-sftp\n")
    rig = Rig("sshd", server, tmp_path)
    r = cli("--config", rig.ini, "upload", "--json", "--proposal", rig.proposal, "--dataset",
            "D", files, env=rig.env)
    assert r.code == 0, r.err
    assert r.json["elapsed"] < 30
    job = cli("jobs", "1", "--json", env=rig.env).json
    how = {f["name"]: f["verified_by"] for f in job["files"]}
    assert how["run/big.raw"] == "size"
    for key, content in keys_of(files, rig.proposal).items():
        rig.wait_identical(key, content)


def test_keys_never_escape_the_storage_folder(rig):
    storage = rig.storage()
    with pytest.raises(UnsafeKeyError):
        storage._remote("P/../../etc/passwd")
    assert storage._remote("P/D/x") == posixpath.join(rig.path, "P/D/x")


# -- interruptions ---------------------------------------------------------------------------
@pytest.fixture
def big_files(tmp_path):
    root = tmp_path / "data" / "acq"
    root.mkdir(parents=True)
    for i in range(20):
        (root / f"frame_{i:03d}.raw").write_bytes(os.urandom(64 * 1024))
    for i in range(2):
        (root / f"volume_{i}.h5").write_bytes(os.urandom(24 * MiB + i))
    return root


@pytest.mark.parametrize("kind", ["sshd", "rclone"])
def test_server_stopped_mid_transfer_then_restarted(kind, tmp_path, big_files, own_server):
    """The server dies (SIGKILL, connections with it) in the middle of a large file; the
    engine retries; once the server is back the partial file is continued, and the job
    completes with every file identical."""
    server = own_server(kind)
    rig = Rig(kind, server, tmp_path)
    storage = rig.storage()
    er = EngineRig(storage, tmp_path, big_files, rig.proposal)
    job_id = er.job()
    rec = RecordingSubscriber()
    total = sum(p.stat().st_size for p in big_files.iterdir())
    result = {}
    t = threading.Thread(target=lambda: result.setdefault(
        "done", er.engine([rec], workers=2, attempts=12, bwlimit="20M").run(job_id)))
    t.start()
    try:
        wait_until(lambda: sum(e.nbytes for e in rec.of(BytesSent)) > total * 0.4, timeout=60,
                   what="40 % sent")
        rig.server.kill()
        wait_until(lambda: rec.of(FileRetrying), timeout=60, what="a retry")
        rig.server.start()  # same port, same host key
    finally:
        t.join(timeout=180)
    done = result["done"]
    assert done.state == "completed", done.error
    for p in big_files.iterdir():
        rig.wait_identical(f"{rig.proposal}/D/acq/{p.name}", p.read_bytes())
    if rig.kind == "sshd":  # its partial files survive the kill: they were continued
        assert any("resumed at" in e.verified_by for e in rec.of(FileDone))
    assert temp_files(rig.server.root / rig.proposal) == []
    er.close()


def test_cancel_keeps_the_partial_file_and_resume_appends_the_rest(rig, tmp_path):
    data = tmp_path / "one"
    data.mkdir()
    content = os.urandom(20 * MiB + 17)
    (data / "vol.raw").write_bytes(content)
    storage = rig.storage()
    er = EngineRig(storage, tmp_path, data, rig.proposal)
    job_id = er.job()
    controls = JobControls()

    class CancelHalfWay(Subscriber):
        sent = 0

        def on_bytes(self, e, **kw):
            self.sent += e.nbytes
            if self.sent >= 8 * MiB:
                controls.cancel()

    assert er.engine([CancelHalfWay()], workers=1).run(job_id, controls).state == "cancelled"
    with rig.reference_client() as ref:
        folder = rig.remote_path(f"{rig.proposal}/D/one")
        partial = [a for a in ref.listdir_attr(folder) if a.filename.endswith(".part")]
    assert len(partial) == 1 and 0 < partial[0].st_size < len(content)
    rec = RecordingSubscriber()
    done = er.engine([rec]).run(job_id)
    assert done.state == "completed"
    assert done.bytes_sent == len(content) - partial[0].st_size  # only the rest was sent
    (finished,) = rec.of(FileDone)
    assert f"resumed at {partial[0].st_size}" in finished.verified_by
    rig.wait_identical(f"{rig.proposal}/D/one/vol.raw", content)
    er.close()


def _partial_upload(server, tmp_path):
    """A 10 MiB file whose upload was cancelled after its first bytes: (rig, engine rig, job
    id, content, the partial file on the server's disk)."""
    rig = Rig("sshd", server, tmp_path)
    data = tmp_path / "one"
    data.mkdir()
    content = os.urandom(10 * MiB)
    (data / "vol.raw").write_bytes(content)
    er = EngineRig(rig.storage(), tmp_path, data, rig.proposal)
    job_id = er.job()
    controls = JobControls()

    class CancelEarly(Subscriber):
        def on_bytes(self, e, **kw):
            controls.cancel()

    er.engine([CancelEarly()], workers=1).run(job_id, controls)
    (partial,) = temp_files(server.root / rig.proposal)
    return rig, er, job_id, content, partial


def test_a_damaged_partial_file_is_started_afresh(sshd_server, tmp_path):  # noqa: F811
    """The server's copy of the prefix differs from the file (checked with sha1sum): the
    file is sent again from its start instead of appended to."""
    rig, er, job_id, content, partial = _partial_upload(sshd_server, tmp_path)
    with open(partial, "r+b") as f:  # bit rot on the server
        f.write(b"\0" * 100)
    credits = []

    class Credits(Subscriber):
        def on_bytes(self, e, **kw):
            if e.resumed:
                credits.append(e.nbytes)

    done = er.engine([Credits()]).run(job_id)
    assert done.state == "completed" and done.bytes_sent == len(content)
    assert credits == []  # a partial file that differs never counts as done
    rig.wait_identical(f"{rig.proposal}/D/one/vol.raw", content)
    er.close()


def test_a_resumed_file_shows_its_first_part_as_done(sshd_server, tmp_path):  # noqa: F811
    """Progress of a continued file starts where the partial file on the server ends; only
    the rest is sent (and counted in the speed)."""
    rig, er, job_id, content, partial = _partial_upload(sshd_server, tmp_path)
    already = partial.stat().st_size
    assert 0 < already < len(content)
    tracker = ProgressTracker()
    firsts = []

    class FirstRow(Subscriber):
        def on_bytes(self, e, **kw):
            if not firsts:
                firsts.append(e)

    done = er.engine([FirstRow(), tracker]).run(job_id)
    assert done.state == "completed" and done.bytes_sent == len(content) - already
    assert firsts[0].resumed and firsts[0].nbytes == already
    (row,) = tracker.snapshot().changed_rows
    assert row.status in ("verified", "registered") and row.sent == len(content)
    assert row.verified_by.endswith(f"; resumed at {already}")
    rig.wait_identical(f"{rig.proposal}/D/one/vol.raw", content)
    er.close()


def test_sigkill_mid_job_then_resume_appends_to_partial_files(cli, tmp_path, big_files, home,
                                                               own_server):
    server = own_server("sshd")  # its sessions are the job's only ones
    rig = Rig("sshd", server, tmp_path)
    rig.write(settings="workers = 2\n")
    env = {**cli.env, **rig.env}
    proc = spawn(env, "--config", rig.ini, "upload", "--proposal", rig.proposal, "--dataset", "D",
                 "--bwlimit", "8M", big_files)
    target = server.root / rig.proposal / "D" / "acq"

    def progressed():
        done = journal_rows(home, "SELECT COUNT(*) FROM tasks WHERE state IN "
                                  "('verified','registered')")
        return done and done[0][0] >= 3 and any(n > 2 * MiB for n in temp_sizes(target))

    wait_for(progressed, what="some files done and a large one partly sent", proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # the server has closed every file of that connection once its session processes end
    server_ps = psutil.Process(server.proc.pid)
    wait_until(lambda: not server_ps.children(recursive=True), timeout=30,
               what="sshd sessions of the killed client to end")
    done_before = journal_rows(home, "SELECT key FROM tasks WHERE state IN "
                                     "('verified','registered')")
    inodes = {key: os.stat(server.path_of(key)).st_ino for (key,) in done_before}
    expected = 0  # what a resume has to send: every byte not on the server yet
    for p in big_files.iterdir():
        final = target / p.name
        partial = [t for t in temp_files(target) if t.name.startswith(f".{p.name}.du-")]
        if final.exists():
            continue
        expected += p.stat().st_size - (partial[0].stat().st_size if partial else 0)
    assert expected < sum(p.stat().st_size for p in big_files.iterdir())

    r = cli("--config", rig.ini, "resume", "1", "--json", env=rig.env)
    assert r.code == 0, r.err + r.out
    assert r.json["files_ok"] == 22
    assert r.json["bytes_sent"] == expected  # nothing on the server was sent again
    job = cli("jobs", "1", "--json", env=rig.env).json
    assert any("resumed at" in (f["verified_by"] or "") for f in job["files"])
    for key, ino in inodes.items():
        assert os.stat(server.path_of(key)).st_ino == ino, key
    for p in big_files.iterdir():
        assert (target / p.name).read_bytes() == p.read_bytes(), p.name
    assert temp_files(target) == []
    r = cli("--config", rig.ini, "verify", "1", env=rig.env)
    assert r.code == 0 and "22 of 22 files verified" in r.out


def test_config_check_online_and_auth_error_class(rig):
    storage = rig.storage(key_file=str(rig.server.workdir / "host_ed25519"))  # not authorized
    with pytest.raises(AuthError, match="refused the key"):
        storage.check()
    storage.close()
    storage = rig.storage()
    storage.check()
    assert storage.stat(f"{rig.proposal}/nothing") is None
    assert storage.existing(rig.proposal) == {}
    storage.close()


def test_journal_state_after_a_refused_file(rig, tmp_path):
    """A file that changes while it is read fails alone; nothing of it stays on the server."""
    data = tmp_path / "grow"
    data.mkdir()
    (data / "ok.bin").write_bytes(os.urandom(1000))
    (data / "growing.raw").write_bytes(os.urandom(300_000))

    class Appending(SourceReader):
        def readinto(self, buf, hash_it=True):
            n = super().readinto(buf, hash_it)
            if n and self.path.endswith("growing.raw") and not getattr(self, "_done", False):
                self._done = True
                with open(self.path, "ab") as f:
                    f.write(b"late frame")
            return n

    storage = rig.storage()
    er = EngineRig(storage, tmp_path, data, rig.proposal)
    job_id = er.job()
    engine = er.engine()
    engine.source_factory = Appending
    done = engine.run(job_id)
    assert done.state == "incomplete"
    states = {t.relpath: t.state for t in er.journal.tasks(job_id)}
    assert states == {"grow/ok.bin": TaskState.REGISTERED, "grow/growing.raw": TaskState.FAILED}
    with rig.reference_client() as ref:
        names = ref.listdir(rig.remote_path(f"{rig.proposal}/D/grow"))
    assert names == ["ok.bin"]
    er.close()


def test_the_example_configuration_is_valid(cli):
    example = Path(__file__).resolve().parents[2] / "resources" / "examples" / "storage-sftp.ini"
    r = cli("--config", example, "config", "check")
    assert r.code == 0, r.err
    assert r.out.endswith(f"Configuration OK ({example}).\n")


KEYRING_SCRIPT = r"""
set -e
echo -n unlock-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
printf '%s\n' "$DU_PW" | "$PY" -m datauploader --config "$CFG" credentials set s --secret-stdin
unset DU_PW
"$PY" -m datauploader --config "$CFG" upload --json --proposal "$PROPOSAL" --dataset D "$DATA"
"""


@pytest.mark.skipif(sys.platform != "linux" or not shutil.which("dbus-run-session")
                    or not shutil.which("gnome-keyring-daemon"),
                    reason="needs dbus-run-session and gnome-keyring-daemon")
def test_password_from_the_real_os_keyring(tmp_path, rclone_sftp_server):  # noqa: F811
    rig = Rig("rclone", rclone_sftp_server, tmp_path)
    rig.ini.write_text(rig.ini.read_text().replace(
        f"key_file = {rclone_sftp_server.client_key}\n", ""))
    data = tmp_path / "kdata"
    data.mkdir()
    (data / "x.bin").write_bytes(os.urandom(3000))
    home = tmp_path / "duhome"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATAUPLOADER_", "PYTHON_KEYRING"))}
    env.update({"DATAUPLOADER_HOME": str(home), "PY": sys.executable, "CFG": str(rig.ini),
                "DATA": str(data), "DU_PW": rclone_sftp_server.password,
                "PROPOSAL": rig.proposal, "HOME": str(rig.home),
                "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini")})
    r = subprocess.run(["dbus-run-session", "--", "sh", "-c", KEYRING_SCRIPT], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    first, rest = r.stdout.split("\n", 1)
    assert first.startswith(f"Stored the secret for {rclone_sftp_server.user} at "
                            f"127.0.0.1:{rclone_sftp_server.port} in the OS keyring")
    assert json.loads(rest)["files_ok"] == 1
    rig.wait_identical(f"{rig.proposal}/D/kdata/x.bin", (data / "x.bin").read_bytes())
    secret = rclone_sftp_server.password.encode()
    for path in [rig.ini, *home.rglob("*")]:
        if path.is_file():
            assert secret not in path.read_bytes(), path


# -- verification modes and the size check -----------------------------------------------------
@pytest.mark.parametrize("settings, small, large", [
    ("verify = size", "size", "size"),
    ("verify = checksum", "size+server-{auto}", "size+server-{auto}"),
    ("verify = checksum\nremote_checksum = sha256", "size+server-sha256", "size+server-sha256"),
    ("remote_checksum = md5", "size", "size+server-md5"),
    ("remote_checksum = sha1", "size", "size+server-sha1"),
    ("verify = reread", "sha256-reread", "sha256-reread"),
])
def test_verify_modes(cli, rig, files, settings, small, large):
    rig.write(extra=f"{settings}\n")
    r = cli("--config", rig.ini, "upload", "--json", "--proposal", rig.proposal, "--dataset", "D",
            files, env=rig.env)
    assert r.code == ExitCode.OK, r.err + r.out
    job = cli("jobs", "1", "--json", env=rig.env).json
    auto = "sha1" if rig.kind == "sshd" else "md5"  # what remote_checksum = auto runs
    assert {f["verified_by"] for f in job["files"] if f["size"] < 8 * MiB} == \
        {small.format(auto=auto)}
    assert {f["verified_by"] for f in job["files"] if f["size"] >= 8 * MiB} == \
        {large.format(auto=auto)}
    for key, content in keys_of(files, rig.proposal).items():
        rig.wait_identical(key, content)


@pytest.mark.parametrize("size", [3000, 3 * MiB + 7], ids=["small", "streamed"])
def test_a_short_write_is_caught_by_the_size_check(rig, tmp_path, monkeypatch, size):
    """The server reports a size other than what was sent (here: the last byte never left):
    the file is not moved into place."""
    from datauploader.errors import VerificationError
    from datauploader.storage.sftp.wire import Wire

    src = tmp_path / "x.bin"
    src.write_bytes(os.urandom(size))
    real_write = Wire.write

    def short_write(self, handle, offset, data):
        if offset + len(data) == size:
            data = data[:-1]
        return real_write(self, handle, offset, data)

    monkeypatch.setattr(Wire, "write", short_write)
    storage = rig.storage(verify="size")
    key = f"{rig.proposal}/D/x.bin"
    item = TransferItem(task_id=1, path=str(src), key=key, size=size, algorithm="sha256",
                        job_uuid=uuid.uuid4().hex)

    class Ctx(TransferContext):
        cancel = threading.Event()

    with pytest.raises(VerificationError, match=f"reports {size - 1} bytes"):
        storage.upload(item, Ctx())
    monkeypatch.setattr(Wire, "write", real_write)
    storage.cleanup_task(item, Ctx())
    assert not rig.disk(key).exists()
    # the connection is still in step: the next upload goes through on it
    assert storage.upload(item, Ctx()).verified_by == "size"
    rig.wait_identical(key, src.read_bytes())
    storage.close()
