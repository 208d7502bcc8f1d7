"""The engine on real local parts (filesystem storage, embedded catalogue, journal), with a
fake clock and a recording subscriber. Faults are injected by wrapping the real backend."""

import os
import threading

import pytest

from datauploader.catalogue.local import LocalCatalogue
from datauploader.core.clock import FakeClock
from datauploader.core.controls import JobControls
from datauploader.core.engine import Engine, EngineSettings
from datauploader.core.journal import Journal
from datauploader.core.keys import dataset_key
from datauploader.core.models import DatasetDefinition, JobState, TaskState
from datauploader.core.planner import Planner
from datauploader.core.retry import RetryPolicy
from datauploader.errors import AuthError, ExitCode, TransientError, UnreachableError
from datauploader.events import (BytesSent, DatasetFinalized, DatasetReady, FileDone, FileRetrying,
                                 FilesRegistered, FileStarted, JobDone, JobStarted,
                                 RecordingSubscriber, Subscriber)
from datauploader.names import RULES
from datauploader.storage.filesystem import FilesystemStorage


class Faulty:
    """The real filesystem backend, failing on demand: ``faults[relname] = [exc, ...]``."""

    def __init__(self, inner):
        self.inner = inner
        self.faults = {}
        self.calls = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def upload(self, item, ctx):
        self.calls.append(item.key)
        queue = self.faults.get(os.path.basename(item.key))
        if queue:
            raise queue.pop(0)
        return self.inner.upload(item, ctx)


@pytest.fixture
def env(tmp_path):
    data = tmp_path / "data"
    (data / "run" / "sub").mkdir(parents=True)
    for i in range(5):
        (data / "run" / f"f{i}.bin").write_bytes(os.urandom(1000 + i))
    (data / "run" / "sub" / "big.bin").write_bytes(os.urandom(3 * (1 << 20) + 7))
    (data / "run" / "empty.txt").write_bytes(b"")
    journal = Journal(str(tmp_path / "state" / "journal.sqlite"))
    storage = FilesystemStorage(str(tmp_path / "store"))
    catalogue = LocalCatalogue(str(tmp_path / "catalogue.sqlite"))
    catalogue.login({})
    yield {"tmp": tmp_path, "data": data, "journal": journal, "storage": storage,
           "catalogue": catalogue}
    journal.close()
    catalogue.close()


def new_job(env, name="D1", paths=None, storage=None):
    storage = storage or env["storage"]
    d = DatasetDefinition(proposal="P1", name=name, paths=paths or [str(env["data"] / "run")])
    prefix = f"P1/{name}"
    plan = Planner(RULES["posix"]).plan(d.paths, prefix)
    key = dataset_key(env["catalogue"].describe(), d.proposal, d.name, storage.describe(), prefix)
    return env["journal"].create_job(profile="local", catalogue=env["catalogue"].describe(),
                                     storage=storage.describe(), prefix=prefix, definition=d,
                                     files=plan.files, options={}, dataset_key=key)


def engine(env, storage=None, subscribers=(), **settings):
    clock = FakeClock()
    settings = {"workers": 3, "retry": RetryPolicy(attempts=3, base_delay=1, jitter=0),
                "register_batch": 4, **settings}
    s = EngineSettings(**settings)
    eng = Engine(env["journal"], storage or env["storage"], env["catalogue"], s, clock=clock,
                 subscribers=subscribers, lock_dir=str(env["tmp"] / "locks"))
    return eng, clock


def test_happy_path_events_journal_storage_and_catalogue(env):
    rec = RecordingSubscriber()
    job_id = new_job(env)
    eng, clock = engine(env, subscribers=[rec])
    done = eng.run(job_id)
    assert (done.state, done.exit_code, done.files_ok, done.files_failed) == ("completed", 0, 7, 0)
    kinds = [type(e) for e in rec.events if not isinstance(e, BytesSent)]
    assert kinds[0] is JobStarted and kinds[1] is DatasetReady and kinds[-1] is JobDone
    assert kinds[-2] is DatasetFinalized
    assert kinds.count(FileStarted) == 7 and kinds.count(FileDone) == 7
    assert sum(len(e.task_ids) for e in rec.of(FilesRegistered)) == 7
    # bytes reported add up to the data
    total = sum(os.path.getsize(t.path) for t in env["journal"].tasks(job_id))
    assert sum(e.nbytes for e in rec.of(BytesSent)) == total
    # each file is in storage with identical bytes, registered with its checksum
    ds = env["catalogue"].get_dataset(env["journal"].job(job_id).dataset_id)
    assert ds.complete and len(ds.datafiles) == 7
    import hashlib
    for t in env["journal"].tasks(job_id):
        assert t.state is TaskState.REGISTERED
        stored = env["storage"]._path(t.key)
        assert open(stored, "rb").read() == open(t.path, "rb").read()
        assert t.checksum == hashlib.sha256(open(t.path, "rb").read()).hexdigest()
        assert t.verified_by == "sha256-reread"
    assert env["journal"].job(job_id).state is JobState.COMPLETED
    assert clock.sleeps == []


def test_transient_faults_are_retried_with_exponential_backoff(env):
    rec = RecordingSubscriber()
    faulty = Faulty(env["storage"])
    faulty.faults["f1.bin"] = [TransientError("503 Slow Down"), TransientError("503 again")]
    job_id = new_job(env, storage=faulty)
    eng, clock = engine(env, storage=faulty, subscribers=[rec])
    done = eng.run(job_id)
    assert done.state == "completed"
    retries = rec.of(FileRetrying)
    assert [(r.attempt, r.delay) for r in retries] == [(1, 1.0), (2, 2.0)]
    assert clock.sleeps == [1.0, 2.0]
    t = [t for t in env["journal"].tasks(job_id) if t.relpath.endswith("f1.bin")][0]
    assert t.attempts == 3
    assert [e["state"] for e in env["journal"].task_events(t.id)].count("retrying") == 2


def test_a_file_error_fails_that_file_and_the_rest_carries_on(env):
    faulty = Faulty(env["storage"])
    from datauploader.errors import SourceFileError
    faulty.faults["f2.bin"] = [SourceFileError("Cannot read f2.bin: permission denied.")]
    job_id = new_job(env, storage=faulty)
    eng, _ = engine(env, storage=faulty)
    done = eng.run(job_id)
    assert (done.state, done.exit_code, done.files_ok, done.files_failed) == (
        "incomplete", ExitCode.INCOMPLETE, 6, 1)
    assert "resume" in done.error
    failed = env["journal"].tasks(job_id, [TaskState.FAILED])
    assert [t.error for t in failed] == ["Cannot read f2.bin: permission denied."]
    ds = env["catalogue"].get_dataset(env["journal"].job(job_id).dataset_id)
    assert not ds.complete and len(ds.datafiles) == 6
    # resume: only the failed file is tried again, the dataset is finalized, still one dataset
    faulty.calls.clear()
    done = eng.run(job_id)
    assert done.state == "completed"
    assert [os.path.basename(k) for k in faulty.calls] == ["f2.bin"]
    assert len(env["catalogue"].investigations()) == 1
    ds = env["catalogue"].get_dataset(env["journal"].job(job_id).dataset_id)
    assert ds.complete and len(ds.datafiles) == 7


def test_refused_credentials_stop_the_job(env):
    faulty = Faulty(env["storage"])
    for i in range(5):
        faulty.faults[f"f{i}.bin"] = [AuthError("The S3 server refused the access key.")]
    faulty.faults["big.bin"] = [AuthError("The S3 server refused the access key.")]
    faulty.faults["empty.txt"] = [AuthError("The S3 server refused the access key.")]
    job_id = new_job(env, storage=faulty)
    eng, clock = engine(env, storage=faulty, workers=1)
    done = eng.run(job_id)
    assert (done.state, done.exit_code) == ("failed", ExitCode.AUTH)
    assert done.error.startswith("The S3 server refused the access key.")
    assert "resume" in done.error
    assert len(faulty.calls) == 1  # stopped at the first refusal, no retries
    assert clock.sleeps == []


def test_unreachable_server_is_retried_then_stops_the_job_resumably(env):
    faulty = Faulty(env["storage"])
    err = lambda: UnreachableError("Cannot reach the S3 server at http://127.0.0.1:9: refused.")
    for name in ["f0.bin", "f1.bin", "f2.bin", "f3.bin", "f4.bin", "big.bin", "empty.txt"]:
        faulty.faults[name] = [err() for _ in range(3)]
    job_id = new_job(env, storage=faulty)
    eng, clock = engine(env, storage=faulty, workers=1)
    done = eng.run(job_id)
    assert (done.state, done.exit_code) == ("failed", ExitCode.UNREACHABLE)
    assert "Cannot reach" in done.error and f"resume {job_id}" in done.error
    assert clock.sleeps == [1.0, 2.0]  # one file's retries, then the job stops
    faulty.faults.clear()
    done = eng.run(job_id)
    assert done.state == "completed"


def test_cancel_stops_and_resume_finishes_without_reuploading(env):
    controls = JobControls()

    class CancelAfterTwo(Subscriber):
        n = 0

        def on_file_done(self, e, **kw):
            self.n += 1
            if self.n == 2:
                controls.cancel()

    job_id = new_job(env)
    eng, _ = engine(env, subscribers=[CancelAfterTwo()], workers=1)
    done = eng.run(job_id, controls)
    assert (done.state, done.exit_code) == ("cancelled", ExitCode.INTERRUPTED)
    verified = {t.id for t in env["journal"].tasks(job_id)
                if t.state in (TaskState.VERIFIED, TaskState.REGISTERED)}
    assert len(verified) == 2
    rec = RecordingSubscriber()
    eng2, _ = engine(env, subscribers=[rec])
    done = eng2.run(job_id)
    assert done.state == "completed"
    assert {e.task_id for e in rec.of(FileStarted)}.isdisjoint(verified)
    assert len(env["catalogue"].get_dataset(env["journal"].job(job_id).dataset_id).datafiles) == 7


def test_pause_blocks_transfers_until_resumed(env):
    controls = JobControls()
    controls.pause()
    job_id = new_job(env)
    eng, _ = engine(env)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("done", eng.run(job_id, controls)))
    t.start()
    t.join(0.3)
    assert t.is_alive()
    assert env["journal"].counts(job_id).files_done == 0
    controls.resume()
    t.join(30)
    assert result["done"].state == "completed"


def test_rerun_of_the_same_dataset_adopts_identical_files_and_makes_no_second_dataset(env):
    first = new_job(env)
    eng, _ = engine(env)
    assert eng.run(first).state == "completed"
    (env["data"] / "run" / "new.bin").write_bytes(b"new data")
    second = new_job(env)
    rec = RecordingSubscriber()
    eng2, _ = engine(env, subscribers=[rec])
    done = eng2.run(second)
    # the dataset is complete: new files are refused plainly, nothing overwritten
    assert done.state == "failed" and "already complete" in done.error
    assert len(env["catalogue"].investigations()) == 1
    os.unlink(env["data"] / "run" / "new.bin")
    third = new_job(env)
    rec = RecordingSubscriber()
    eng3, _ = engine(env, subscribers=[rec])
    done = eng3.run(third)
    assert done.state == "completed"
    assert all(e.skipped for e in rec.of(FileDone)) and len(rec.of(FileDone)) == 7
    assert rec.of(DatasetReady)[0].created is False


def test_an_existing_different_file_is_never_overwritten(env):
    job_id = new_job(env)
    target = env["storage"]._path("P1/D1/run/f0.bin")
    os.makedirs(os.path.dirname(target))
    with open(target, "wb") as f:
        f.write(b"somebody else's data")
    eng, _ = engine(env)
    done = eng.run(job_id)
    assert done.state == "incomplete" and done.files_failed == 1
    assert open(target, "rb").read() == b"somebody else's data"
    failed = env["journal"].tasks(job_id, [TaskState.FAILED])[0]
    assert "already exists with other content" in failed.error


def test_a_dataset_name_taken_by_someone_else_is_refused(env):
    inv = env["catalogue"].create_investigation("P1")
    from datauploader.catalogue.base import DatasetSpec
    env["catalogue"].create_dataset(inv.id, DatasetSpec(name="D1", dataset_key="other"))
    job_id = new_job(env)
    eng, _ = engine(env)
    done = eng.run(job_id)
    assert done.state == "failed" and "not created by DataUploader" in done.error
    assert os.listdir(env["tmp"] / "store") == [] if (env["tmp"] / "store").exists() else True


def test_a_file_growing_while_read_is_never_recorded_as_verified(env):
    big = env["data"] / "run" / "sub" / "big.bin"

    class Appender(Subscriber):
        done = False
        big_task = None

        def on_file_started(self, e, **kw):
            if e.relpath.endswith("big.bin"):
                self.big_task = e.task_id

        def on_bytes(self, e, **kw):
            if e.task_id == self.big_task and not self.done:
                self.done = True
                with open(big, "ab") as f:
                    f.write(b"more data arriving")

    job_id = new_job(env)
    eng, _ = engine(env, subscribers=[Appender()])
    done = eng.run(job_id, JobControls())
    big_task = [t for t in env["journal"].tasks(job_id) if t.relpath.endswith("big.bin")][0]
    assert big_task.state is TaskState.FAILED
    assert "changed while it was being read" in big_task.error
    assert done.state == "incomplete"
    # nothing was left behind in storage for it
    assert not os.path.exists(env["storage"]._path(big_task.key))
    assert not [n for n in os.listdir(os.path.dirname(env["storage"]._path(big_task.key)))
                if n.endswith(".part")]


def test_a_second_process_cannot_run_the_same_job(env):
    job_id = new_job(env)
    from datauploader.core.locks import JobLock
    lock = JobLock(str(env["tmp"] / "locks"), env["journal"].job(job_id).uuid)
    other = JobLock(str(env["tmp"] / "locks"), env["journal"].job(job_id).uuid)
    assert lock.acquire()
    from datauploader.errors import UserFacingError
    eng, _ = engine(env)
    with pytest.raises(UserFacingError, match="already running"):
        eng.run(job_id)
    assert other.held_elsewhere() is True
    lock.release()
    assert other.held_elsewhere() is False


def test_bandwidth_limit_uses_the_throttle(env):
    job_id = new_job(env)
    eng, clock = engine(env, bandwidth_limit="1M")
    assert eng.run(job_id).state == "completed"
    total = sum(t.size for t in env["journal"].tasks(job_id))
    # total / (1 MiB/s) of (fake) sleeping
    assert sum(clock.sleeps) == pytest.approx(total / (1 << 20), abs=0.01)


def test_checksum_algorithms(env):
    import zlib
    for alg in ("md5", "crc32", "adler32"):
        job_id = new_job(env, name=f"D-{alg}")
        eng, _ = engine(env, checksum=alg)
        assert eng.run(job_id).state == "completed"
        t = [t for t in env["journal"].tasks(job_id) if t.relpath.endswith("f0.bin")][0]
        data = open(t.path, "rb").read()
        expected = {"md5": __import__("hashlib").md5(data).hexdigest(),
                    "crc32": f"{zlib.crc32(data):08x}", "adler32": f"{zlib.adler32(data):08x}"}
        assert (t.algorithm, t.checksum) == (alg, expected[alg])
