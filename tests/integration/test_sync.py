"""Sync mode against a simulated acquisition process (a subprocess writing files slowly,
holding them open, appending in bursts, writing under a temporary name and renaming)."""

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest

from datauploader.app.paths import resolve
from datauploader.app.service import Service
from datauploader.core.controls import JobControls
from datauploader.core.models import DatasetDefinition, Mode
from datauploader.events import RecordingSubscriber, SyncStatus
from tests.integration.test_kill_and_resume import journal_rows, wait_for

pytestmark = pytest.mark.integration


def acquisition(tmp_path, root, steps, name="acq"):
    script = tmp_path / f"{name}.json"
    script.write_text(json.dumps({"root": str(root), "steps": steps}))
    log = tmp_path / f"{name}.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "tests.servers.acquisition", str(script),
                             str(log)], cwd=os.path.dirname(os.path.dirname(__file__)) + "/..")
    return proc, log


def events(log):
    return [json.loads(line) for line in open(log)] if os.path.exists(log) else []


class SyncRun:
    """A sync job running in this process (the real service and engine) on a thread."""

    def __init__(self, tmp_path, root, settings="", name="D"):
        self.home = tmp_path / "home"
        cfg = tmp_path / "sync.ini"
        cfg.write_text("[settings]\nsettle_time = 1\nsync_poll_interval = 0.5\n" + settings)
        env = {"DATAUPLOADER_HOME": str(self.home),
               "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini")}
        self.service = Service.open(resolve(env), [str(cfg)], env)
        self.service.login("local")
        d = DatasetDefinition(proposal="P", name=name, paths=[str(root)], mode=Mode.SYNC.value)
        self.job_id = self.service.create_job(d, "local")
        self.controls = JobControls()
        self.rec = RecordingSubscriber()
        self.done = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        self.done = self.service.run_job(self.job_id, [self.rec], self.controls)

    def finish(self, timeout=60):
        self.controls.finish()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the sync job did not finish"
        return self.done

    def stop(self):
        """Stop watching if still running (the service stays open for the checks)."""
        self.controls.cancel()
        self.thread.join(30)
        _open_runs.append(self)

    def tasks(self):
        return self.service.journal.tasks(self.job_id)

    def stored(self, relpath):
        return self.home / "data" / "storage" / "P" / "D" / relpath

    def statuses(self):
        return self.rec.of(SyncStatus)


_open_runs: list = []


@pytest.fixture(autouse=True)
def _close_services():
    yield
    while _open_runs:
        _open_runs.pop().service.close()


@pytest.fixture
def acq_root(tmp_path):
    root = tmp_path / "detector" / "run1"
    root.mkdir(parents=True)
    return root


def test_no_file_is_uploaded_before_it_is_complete_and_each_exactly_once(tmp_path, acq_root):
    (acq_root / "before.raw").write_bytes(os.urandom(3000))  # already there when watching starts
    steps = [{"parallel": [
        # slow writer: a chunk every 0.4 s for 3 s (pauses shorter than the settle time)
        [{"write": "slow.raw", "chunks": 8, "size": 10000, "every": 0.4}],
        # written at once, then held open (not written) for longer than the settle time
        [{"write": "held.raw", "chunks": 1, "size": 5000, "hold": 2.5}],
        # written under a temporary name, then renamed into place
        [{"write": "frame.h5.tmp", "chunks": 4, "size": 8000, "every": 0.3},
         {"rename": "frame.h5.tmp", "to": "frame.h5"}],
        # appended in bursts
        [{"write": "log.txt", "chunks": 1, "size": 100},
         {"sleep": 0.5}, {"append": "log.txt", "size": 200},
         {"sleep": 0.5}, {"append": "log.txt", "size": 300}],
    ]}]
    run = SyncRun(tmp_path, acq_root)
    try:
        proc, log = acquisition(tmp_path, acq_root, steps)
        assert proc.wait(60) == 0
        closed = {os.path.basename(e["path"]): e["time"] for e in events(log)
                  if e["event"] in ("closed", "renamed", "appended")}
        wait_for(lambda: len([t for t in run.tasks() if t.state.value in
                              ("verified", "registered")]) == 5, timeout=30,
                 what="all five files uploaded")
        done = run.finish()
    finally:
        run.stop()
    assert done.state == "completed" and done.files_ok == 5
    tasks = {t.relpath: t for t in run.tasks()}
    assert sorted(tasks) == ["run1/before.raw", "run1/frame.h5", "run1/held.raw",
                             "run1/log.txt", "run1/slow.raw"]  # one task each: no early copy
    for relpath, t in tasks.items():
        local = acq_root / relpath.split("/", 1)[1]
        assert run.stored(relpath).read_bytes() == local.read_bytes(), relpath
        assert t.checksum == hashlib.sha256(local.read_bytes()).hexdigest()
    # the upload of each file started only after the writer was done with it
    for name, t in tasks.items():
        base = name.split("/", 1)[1]
        if base in closed:
            started = [e["ts"] for e in run.service.journal.task_events(t.id)
                       if e["state"] == "uploading"][0]
            assert started >= closed[base], f"{base} was picked up before it was complete"
    assert not any(p.name.endswith(".tmp") for p in run.stored("run1").iterdir())


@pytest.mark.parametrize("policy", ["version", "skip"])
def test_a_file_modified_after_upload_follows_the_policy(tmp_path, acq_root, policy):
    run = SyncRun(tmp_path, acq_root, settings=f"sync_on_modified = {policy}\n")
    try:
        proc, log = acquisition(tmp_path, acq_root, [{"write": "scan.h5", "size": 4000}])
        assert proc.wait(30) == 0
        wait_for(lambda: any(t.state.value in ("verified", "registered") for t in run.tasks()),
                 timeout=30, what="first upload")
        first = run.stored("run1/scan.h5").read_bytes()
        proc, log = acquisition(tmp_path, acq_root, [{"append": "scan.h5", "size": 500}],
                                name="again")
        assert proc.wait(30) == 0
        if policy == "version":
            wait_for(lambda: len(run.tasks()) == 2 and all(
                t.state.value in ("verified", "registered") for t in run.tasks()),
                timeout=30, what="the second version")
        else:
            wait_for(lambda: any(s.notice and "left alone" in s.notice
                                 for s in run.statuses()), timeout=30, what="the report")
        done = run.finish()
    finally:
        run.stop()
    assert done.state == "completed"
    assert run.stored("run1/scan.h5").read_bytes() == first  # never overwritten
    cat = sqlite3.connect(run.home / "data" / "catalogue.sqlite")
    names = sorted(r[0] for r in cat.execute("SELECT name FROM datafiles"))
    if policy == "version":
        assert names == ["run1/scan.h5", "run1/scan.v2.h5"]
        assert run.stored("run1/scan.v2.h5").read_bytes() == (acq_root / "scan.h5").read_bytes()
    else:
        assert names == ["run1/scan.h5"]
        assert not run.stored("run1/scan.v2.h5").exists()
        assert run.statuses()[-1].modified_skipped == 1


@pytest.mark.parametrize("observer", ["events", "polling"])
def test_a_watched_folder_removed_and_recreated_is_reported_and_watched_again(
        tmp_path, acq_root, observer):
    run = SyncRun(tmp_path, acq_root, settings=f"sync_observer = {observer}\n")
    try:
        proc, _ = acquisition(tmp_path, acq_root, [{"write": "a.raw", "size": 1000}])
        assert proc.wait(30) == 0
        wait_for(lambda: [t.state.value for t in run.tasks()] in (["verified"], ["registered"]),
                 timeout=30, what="a.raw uploaded")
        import shutil
        shutil.rmtree(acq_root)
        wait_for(lambda: any(r.state == "unavailable" for s in run.statuses() for r in s.roots),
                 timeout=30, what="the folder reported unavailable")
        acq_root.mkdir()
        proc, _ = acquisition(tmp_path, acq_root, [{"write": "b.raw", "size": 1000}],
                              name="again")
        assert proc.wait(30) == 0
        wait_for(lambda: len(run.tasks()) == 2, timeout=30, what="b.raw after the comeback")
        done = run.finish()
    finally:
        run.stop()
    assert done.state == "completed" and done.files_ok == 2
    notices = [s.notice for s in run.statuses() if s.notice]
    assert any("is not available" in n for n in notices)
    assert any("available again" in n for n in notices)
    assert run.statuses()[-1].roots[0].method == observer


def test_marker_files_gate_the_upload_and_are_not_uploaded(tmp_path, acq_root):
    run = SyncRun(tmp_path, acq_root, settings="sync_marker = {name}.done\n")
    try:
        proc, _ = acquisition(tmp_path, acq_root, [
            {"write": "x.raw", "size": 2000}, {"write": "y.raw", "size": 2000},
            {"sleep": 2.0}, {"write": "x.raw.done", "size": 0}])
        assert proc.wait(30) == 0
        wait_for(lambda: len(run.tasks()) == 1, timeout=30, what="x.raw")
        assert run.tasks()[0].relpath == "run1/x.raw"
        (acq_root / "y.raw.done").write_bytes(b"")
        wait_for(lambda: len(run.tasks()) == 2, timeout=30, what="y.raw")
        done = run.finish()
    finally:
        run.stop()
    assert sorted(t.relpath for t in run.tasks()) == ["run1/x.raw", "run1/y.raw"]
    assert done.state == "completed"


def test_kill_during_watching_then_restart_finds_everything_once(tmp_path, acq_root):
    home = tmp_path / "home"
    env = {**os.environ, "DATAUPLOADER_HOME": str(home),
           "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini")}
    for i in range(5):
        (acq_root / f"early_{i}.raw").write_bytes(os.urandom(2000))
    watcher = subprocess.Popen([sys.executable, "-m", "datauploader", "watch", "--proposal", "P",
                                "--dataset", "D", "--settle", "0.5", str(acq_root)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done_sql = "SELECT COUNT(*) FROM tasks WHERE state IN ('verified','registered')"
    wait_for(lambda: (journal_rows(home, done_sql) or [(0,)])[0][0] >= 5, timeout=60,
             what="the early files uploaded", proc=watcher)
    watcher.send_signal(signal.SIGKILL)
    watcher.wait(10)
    for i in range(4):  # acquisition goes on while DataUploader is down
        (acq_root / f"late_{i}.raw").write_bytes(os.urandom(2000))
    r = subprocess.run([sys.executable, "-m", "datauploader", "resume", "1", "--json",
                        "--finish-after-idle", "2"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["state"] == "completed" and result["files_ok"] == 9
    db = sqlite3.connect(home / "state" / "journal.sqlite")
    names = [n for (n,) in db.execute("SELECT relpath FROM tasks ORDER BY relpath")]
    assert names == sorted([f"run1/early_{i}.raw" for i in range(5)] +
                           [f"run1/late_{i}.raw" for i in range(4)])
    cat = sqlite3.connect(home / "data" / "catalogue.sqlite")
    assert cat.execute("SELECT COUNT(*), COUNT(DISTINCT name) FROM datafiles").fetchone() == (9, 9)
    assert cat.execute("SELECT complete FROM datasets").fetchone()[0] == 1


def test_finish_from_another_process(tmp_path, acq_root):
    home = tmp_path / "home"
    env = {**os.environ, "DATAUPLOADER_HOME": str(home),
           "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini")}
    (acq_root / "one.raw").write_bytes(b"1" * 100)
    watcher = subprocess.Popen([sys.executable, "-m", "datauploader", "watch", "--json",
                                "--proposal", "P", "--dataset", "D", "--settle", "0.5",
                                str(acq_root)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (journal_rows(home, "SELECT COUNT(*) FROM tasks") or [(0,)])[0][0] == 1,
             timeout=60, what="one.raw handed over", proc=watcher)
    (acq_root / "two.raw").write_bytes(b"2" * 100)  # written just before Finish
    r = subprocess.run([sys.executable, "-m", "datauploader", "finish", "1"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Finish requested" in r.stdout
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    result = json.loads(out)
    assert result["state"] == "completed" and result["files_ok"] == 2
