import sqlite3

import pytest

from datauploader.core.journal import Journal, JournalError
from datauploader.core.journal_schema import SCHEMA_VERSION
from datauploader.core.models import DatasetDefinition, JobState, PlannedFile, TaskState
from datauploader.events import FileDone, FileFailed, FileStarted, MultipartStarted, PartDone


def make_job(j, n=3):
    files = [PlannedFile(f"/data/f{i}", f"run/f{i}", f"P/D/run/f{i}", 10 * i, 1000 + i)
             for i in range(n)]
    d = DatasetDefinition(proposal="P", name="D", paths=["/data"], metadata={"k": "v"})
    return j.create_job(profile="local", catalogue="cat", storage="st", prefix="P/D",
                        definition=d, files=files, options={"checksum": "sha256"},
                        dataset_key="du-x")


def test_new_journal_is_migrated_to_the_current_schema(tmp_path):
    j = Journal(str(tmp_path / "j.sqlite"))
    assert j.schema_version == SCHEMA_VERSION
    db = sqlite3.connect(tmp_path / "j.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "tasks", "task_events", "job_events", "multipart", "parts", "meta"} <= tables
    j.close()


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path):
    j = Journal(str(tmp_path / "j.sqlite"))
    job_id = make_job(j)
    j.close()
    j2 = Journal(str(tmp_path / "j.sqlite"))
    assert j2.job(job_id).definition.metadata == {"k": "v"}
    assert len(j2.tasks(job_id)) == 3
    j2.close()


def test_a_newer_schema_is_refused_plainly(tmp_path):
    j = Journal(str(tmp_path / "j.sqlite"))
    j._write("UPDATE meta SET value='99' WHERE key='schema_version'")
    j.close()
    with pytest.raises(JournalError, match="newer DataUploader"):
        Journal(str(tmp_path / "j.sqlite"))


def test_job_and_tasks_are_durable_at_once(tmp_path):
    j = Journal(str(tmp_path / "j.sqlite"), commit_interval=3600)
    job_id = make_job(j)
    other = sqlite3.connect(tmp_path / "j.sqlite")
    assert other.execute("SELECT COUNT(*) FROM tasks WHERE job_id=?", (job_id,)).fetchone()[0] == 3
    j.close()


def test_events_become_state_changes_and_history(tmp_path):
    j = Journal(str(tmp_path / "j.sqlite"))
    job_id = make_job(j)
    t = j.tasks(job_id)[1]
    j.on_file_started(FileStarted(job_id, t.id, t.relpath, t.size, 1))
    j.on_file_done(FileDone(job_id, t.id, t.relpath, 10, "abc", "sha256", t.key, "/x",
                            "etag-md5"))
    t2 = j.tasks(job_id)[2]
    j.on_file_failed(FileFailed(job_id, t2.id, t2.relpath, "Cannot read", "file", 1))
    rec = j.task(t.id)
    assert (rec.state, rec.checksum, rec.location, rec.attempts) == (TaskState.VERIFIED, "abc", "/x", 1)
    assert [e["state"] for e in j.task_events(t.id)] == ["uploading", "uploaded", "verified"]
    assert j.task(t2.id).error == "Cannot read"
    counts = j.counts(job_id)
    assert counts.files == {"planned": 1, "verified": 1, "failed": 1}
    assert counts.files_done == 1 and counts.bytes_done == 10
    j.close()


def test_multipart_upload_id_is_committed_before_anything_else(tmp_path):
    j = Journal(str(tmp_path / "j.sqlite"), commit_interval=3600)
    job_id = make_job(j)
    t = j.tasks(job_id)[0]
    j.on_multipart_started(MultipartStarted(job_id, t.id, "UPLOAD-1", 8 << 20))
    other = sqlite3.connect(tmp_path / "j.sqlite")
    assert other.execute("SELECT upload_id FROM multipart").fetchone()[0] == "UPLOAD-1"
    j.on_part_done(PartDone(job_id, t.id, 1, 8 << 20, "e1", "m1"))
    # ordinary writes are group-committed: another reader does not see the part yet
    assert other.execute("SELECT COUNT(*) FROM parts").fetchone()[0] == 0
    # the journal's own reads see its writes (it commits first)
    assert j.multipart(t.id).parts == {1: (8 << 20, "e1", "m1")}
    assert other.execute("SELECT COUNT(*) FROM parts").fetchone()[0] == 1
    assert j.multipart_tasks(job_id) == {t.id}
    j.close()


def test_group_commit_happens_by_itself(tmp_path):
    j = Journal(str(tmp_path / "j.sqlite"), commit_interval=0.05)
    job_id = make_job(j)
    t = j.tasks(job_id)[0]
    j.on_file_started(FileStarted(job_id, t.id, t.relpath, t.size, 1))
    other = sqlite3.connect(tmp_path / "j.sqlite", timeout=5)
    import time
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if other.execute("SELECT state FROM tasks WHERE id=?", (t.id,)).fetchone()[0] == "uploading":
            break
        time.sleep(0.01)
    else:
        pytest.fail("the flusher never committed")
    j.close()


def test_job_states(tmp_path):
    j = Journal(str(tmp_path / "j.sqlite"))
    job_id = make_job(j)
    assert j.job(job_id).state is JobState.PLANNED
    j.set_job_state(job_id, JobState.RUNNING)
    assert j.job(job_id).started is not None
    j.set_job_state(job_id, JobState.FAILED, "boom")
    rec = j.job(job_id)
    assert (rec.state, rec.error) == (JobState.FAILED, "boom") and rec.finished
    assert [e["event"] for e in j.job_events(job_id)] == ["planned", "running", "failed"]
    with pytest.raises(JournalError, match="no job 999"):
        j.job(999)
    j.close()


def test_a_corrupt_journal_is_reported_plainly(tmp_path):
    p = tmp_path / "j.sqlite"
    p.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match="cannot be opened"):
        Journal(str(p))


def test_a_write_that_fails_is_reported_to_later_callers(tmp_path):
    j = Journal(str(tmp_path / "j.sqlite"))
    j._write("INSERT INTO no_such_table VALUES (1)")
    with pytest.raises(JournalError, match="cannot be written"):
        j.commit()
    with pytest.raises(JournalError, match="cannot be written"):
        j._write("SELECT 1")


def test_every_old_schema_is_migrated_with_its_data(tmp_path):
    from datauploader.core.journal_schema import MIGRATIONS
    for old in range(1, SCHEMA_VERSION):
        path = tmp_path / f"v{old}.sqlite"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        for v in range(old):
            db.executescript(MIGRATIONS[v])
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(old),))
        db.execute("INSERT INTO jobs (uuid, created, updated, profile, catalogue, storage, "
                   "prefix, proposal, dataset_name, definition, state) VALUES ('u', 1, 1, 'l', "
                   "'c', 's', 'p', 'P', 'D', '{\"proposal\": \"P\", \"name\": \"D\"}', 'running')")
        db.execute("INSERT INTO tasks (job_id, path, relpath, key, size, mtime_ns, state, "
                   "updated) VALUES (1, '/x', 'x', 'p/x', 3, 4, 'verified', 1)")
        db.commit()
        db.close()
        j = Journal(str(path))
        assert j.schema_version == SCHEMA_VERSION
        job = j.job(1)
        assert (job.proposal, job.state.value, job.finish_requested) == ("P", "running", None)
        assert j.latest_by_path(1)["/x"].state is TaskState.VERIFIED
        j.request_finish(1)
        assert j.finish_requested(1)
        j.close()
