"""The upload process is SIGKILLed in the middle of a multi-file job with multipart files;
``resume`` then finishes it: every object present and verified, nothing the journal recorded
as done sent again, one dataset in the catalogue."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration


def journal_rows(home, sql, params=()):
    path = home / "state" / "journal.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []  # not created yet
    finally:
        db.close()


def spawn(cli_env, *argv):
    env = {**os.environ, **cli_env}
    return subprocess.Popen([sys.executable, "-m", "datauploader", *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(predicate, timeout=60, what="condition", proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process ended before {what}: {proc.returncode}\n{out}\n{err}")
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def kill_data(tmp_path):
    root = tmp_path / "data" / "acq"
    root.mkdir(parents=True)
    for i in range(40):
        (root / f"frame_{i:03d}.raw").write_bytes(os.urandom(64 * 1024))
    for i in range(3):
        (root / f"volume_{i}.h5").write_bytes(os.urandom(6 * (1 << 20) + i))
    return root


def test_sigkill_mid_job_then_resume(cli, s3_config, s3_server, kill_data, home):
    cfg = s3_config(settings="workers = 2\n")
    env = {**cli.env, **s3_config.env}
    proc = spawn(env, "--config", cfg, "upload", "--proposal", "P", "--dataset", "D",
                 "--bwlimit", "6M", kill_data)

    def progressed():
        done = journal_rows(home, "SELECT COUNT(*) FROM tasks WHERE state IN "
                                  "('verified','registered')")
        parts = journal_rows(home, "SELECT COUNT(*) FROM parts")
        return done and done[0][0] >= 5 and parts and parts[0][0] >= 2

    wait_for(progressed, what="some files and some parts done", proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    # what the journal had recorded (committed) at the moment of the kill
    done_before = journal_rows(home, "SELECT key, size FROM tasks WHERE state IN "
                                     "('verified','registered')")
    parts_before = journal_rows(home, "SELECT t.key, p.part_number, p.size FROM parts p "
                                      "JOIN tasks t ON t.id = p.task_id")
    assert done_before and parts_before
    bucket = s3_config.bucket
    backing = {key: os.stat(s3_server.path_of(bucket, key)) for key, _ in done_before}
    total = sum(p.stat().st_size for p in kill_data.iterdir())

    r = cli("jobs", "--json", env=s3_config.env)
    assert r.json[0]["state"] == "interrupted"

    r = cli("--config", cfg, "resume", "1", "--json", env=s3_config.env)
    assert r.code == 0, r.err + r.out
    result = r.json
    assert result["state"] == "completed" and result["files_ok"] == 43

    # nothing recorded as done was sent again: same inode and mtime on the server's disk,
    # and the bytes sent by the resume leave out every recorded file and part
    for key, st in backing.items():
        now = os.stat(s3_server.path_of(bucket, key))
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), key
    recorded = sum(size for _, size in done_before)
    recorded += sum(size for key, _, size in parts_before if key not in dict(done_before))
    assert result["bytes_sent"] <= total - recorded

    # every object present and identical
    s3 = s3_server.boto3_client()
    for p in kill_data.iterdir():
        body = s3.get_object(Bucket=bucket, Key=f"P/D/acq/{p.name}")["Body"].read()
        assert body == p.read_bytes(), p.name
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    r = cli("--config", cfg, "verify", "1", env=s3_config.env)
    assert r.code == 0 and "43 of 43 files verified" in r.out

    # one dataset, each datafile once
    cat = sqlite3.connect(home / "data" / "catalogue.sqlite")
    assert cat.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 1
    assert cat.execute("SELECT COUNT(*), COUNT(DISTINCT name) FROM datafiles").fetchone() == (43, 43)
    assert cat.execute("SELECT complete FROM datasets").fetchone()[0] == 1


def test_ctrl_c_cancels_cleanly_and_the_job_resumes(cli, s3_config, s3_server, kill_data, home):
    cfg = s3_config(settings="workers = 2\n")
    env = {**cli.env, **s3_config.env}
    proc = spawn(env, "--config", cfg, "upload", "--proposal", "P", "--dataset", "D",
                 "--bwlimit", "6M", kill_data)
    wait_for(lambda: (journal_rows(home, "SELECT COUNT(*) FROM tasks WHERE state IN "
                                         "('verified','registered')") or [(0,)])[0][0] >= 3,
             what="three files done", proc=proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"cancelled" in err
    assert cli("jobs", "--json", env=s3_config.env).json[0]["state"] == "cancelled"
    r = cli("--config", cfg, "resume", "1", "--json", env=s3_config.env)
    assert r.code == 0 and r.json["files_ok"] == 43
