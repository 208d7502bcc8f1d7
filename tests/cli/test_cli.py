"""The command line on the built-in local profile: exit codes, output, journal, verify."""

import os
import sqlite3


from datauploader.errors import ExitCode


def stored(home, key):
    return home / "data" / "storage" / key


def test_version_and_help(cli):
    r = cli("--version")
    assert r.code == 0 and r.out.startswith("DataUploader ")
    r = cli("upload", "--help")
    assert r.code == 0 and "exit codes" in r.out


def test_upload_jobs_verify_roundtrip(cli, data, home):
    r = cli("upload", "--proposal", "MX-1", "--dataset", "scan 7", "--meta", "energy=12.4",
            "--keyword", "test", data)
    assert r.code == ExitCode.OK, r.err
    assert "Job 1 completed: 5 files" in r.out
    for rel in ["a.h5", "sub/b.cbf", "empty.txt", "with space #1 100%?.txt", "unicodé ✓.dat"]:
        assert stored(home, f"MX-1/scan 7/run1/{rel}").read_bytes() == (data / rel).read_bytes()
    r = cli("jobs")
    assert r.code == 0 and "completed" in r.out and "MX-1 / scan 7" in r.out
    r = cli("jobs", "--json")
    assert r.json[0]["state"] == "completed" and r.json[0]["files_total"] == 5
    r = cli("jobs", "1", "--json")
    files = {f["name"]: f for f in r.json["files"]}
    assert files["run1/empty.txt"]["checksum"] == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert all(f["state"] == "registered" for f in files.values())
    r = cli("verify", "1")
    assert r.code == 0 and "5 of 5 files verified (full); all good." in r.out
    cat = sqlite3.connect(home / "data" / "catalogue.sqlite")
    assert cat.execute("SELECT name, complete, metadata FROM datasets").fetchall() == [
        ("scan 7", 1, '{"energy": "12.4"}')]
    assert cat.execute("SELECT COUNT(*) FROM datafiles").fetchone()[0] == 5


def test_json_output_is_one_document(cli, data):
    r = cli("upload", "--json", "--proposal", "P", "--dataset", "D", data)
    assert r.code == 0 and r.err == ""
    doc = r.json
    assert doc["state"] == "completed" and doc["files_ok"] == 5 and doc["exit_code"] == 0


def test_dry_run_shows_where_files_go_and_creates_nothing(cli, data, home):
    r = cli("upload", "--dry-run", "--proposal", "P", "--dataset", "D", "--exclude", "*.h5", data)
    assert r.code == 0
    assert "run1/sub/b.cbf  →  P/D/run1/sub/b.cbf" in r.out and "a.h5" not in r.out
    assert "4 files" in r.out
    assert cli("jobs").out == "No jobs yet.\n"


def test_verify_finds_missing_and_corrupted_files(cli, data, home):
    assert cli("upload", "--proposal", "P", "--dataset", "D", data).code == 0
    stored(home, "P/D/run1/a.h5").write_bytes(b"bit rot")
    os.unlink(stored(home, "P/D/run1/sub/b.cbf"))
    r = cli("verify", "1", "--json")
    assert r.code == ExitCode.INCOMPLETE
    problems = {p["file"]: p["status"] for p in r.json["problems"]}
    assert problems == {"run1/a.h5": "size-mismatch", "run1/sub/b.cbf": "missing"}
    stored(home, "P/D/run1/empty.txt").write_bytes(b"")  # untouched
    (stored(home, "P/D/run1/unicodé ✓.dat")).write_bytes(b"UNICODE")  # same size
    r = cli("verify", "1")
    assert "checksum-mismatch  run1/unicodé ✓.dat" in r.out
    assert cli("verify", "1", "--quick").code == ExitCode.INCOMPLETE


def test_a_path_that_does_not_exist(cli, tmp_path):
    r = cli("upload", "--proposal", "P", "--dataset", "D", tmp_path / "nowhere")
    assert r.code == ExitCode.USAGE
    assert r.err == f"error: No such file or folder: {tmp_path / 'nowhere'}. Check the path.\n"


def test_unsafe_dataset_name(cli, data):
    r = cli("upload", "--proposal", "P", "--dataset", "..", data)
    assert r.code == ExitCode.USAGE and "outside the storage prefix" in r.err


def test_bad_meta_and_bad_bwlimit_and_bad_arguments(cli, data):
    assert cli("upload", "--proposal", "P", "--dataset", "D", "--meta", "novalue", data).code == 2
    r = cli("upload", "--proposal", "P", "--dataset", "D", "--bwlimit", "fast", data)
    assert r.code == 2 and "--bwlimit" in r.err
    r = cli("upload", "--dataset", "D", data)
    assert r.code == 2 and "--proposal" in r.err
    assert cli("resume", "42").code == 2 or "no job 42" in cli("resume", "42").err


def test_malformed_ini(cli, tmp_path, data):
    bad = tmp_path / "bad.ini"
    bad.write_text("[storage:nas]\ntype = filesystem\npath = /x\nverify = maybe\n")
    r = cli("--config", bad, "upload", "--proposal", "P", "--dataset", "D", data)
    assert r.code == ExitCode.USAGE
    assert r.err.startswith(f"error: In {bad}, section [storage:nas], key 'verify': 'maybe' is "
                            "not one of: reread, size.")
    r = cli("--config", bad, "config", "check")
    assert r.code == ExitCode.USAGE


def test_config_show_and_check(cli, tmp_path):
    r = cli("config", "show")
    assert r.code == 0 and "workers" in r.out and "[profile:local]" in r.out
    r = cli("config", "check")
    assert r.code == 0 and "profile local: storage folder" in r.out
    good = tmp_path / "good.ini"
    good.write_text(f"[profile:nas]\ncatalogue = local\nstorage = nas\n"
                    f"[storage:nas]\ntype = filesystem\npath = {tmp_path / 'nas'}\n")
    r = cli("--config", good, "config", "check", "--online")
    assert r.code == 0 and "profile nas" in r.out and "reachable" in r.out
    r = cli("--config", good, "config", "show", "--json", "--profile", "nas")
    assert r.json["sections"]["storage:nas"]["type"] == "filesystem"


def test_resume_of_a_completed_job_is_a_no_op(cli, data):
    assert cli("upload", "--proposal", "P", "--dataset", "D", data).code == 0
    r = cli("resume", "1")
    assert r.code == 0 and "already complete" in r.out


def test_rerun_uploads_nothing_twice(cli, data):
    assert cli("upload", "--proposal", "P", "--dataset", "D", data).code == 0
    r = cli("upload", "--json", "--proposal", "P", "--dataset", "D", data)
    assert r.code == 0 and r.json["files_ok"] == 5
    r = cli("jobs", "2", "--json")
    assert all(f["verified_by"].startswith("sha256-compare") for f in r.json["files"])


def test_demo(cli, home):
    r = cli("demo")
    assert r.code == 0, r.err
    assert "completed: 21 files" in r.out
    assert (home / "data" / "storage" / "DEMO-0001").is_dir()


def test_config_check_of_a_site_file_needs_no_secret_offline(cli, tmp_path):
    site = tmp_path / "site.ini"
    site.write_text("[profile:beamline]\ncatalogue = local\nstorage = raw\n"
                    "[storage:raw]\ntype = s3\nendpoint_url = https://s3.example.org\n"
                    "bucket = raw\naccess_key_id = AKIDEXAMPLE\n")
    r = cli("--config", site, "config", "check", env={"AWS_SHARED_CREDENTIALS_FILE":
                                                       str(tmp_path / "none")})
    assert r.code == 0, r.err
    assert "profile beamline: storage [storage:raw] (no credentials here)" in r.out
    assert "warning: profile beamline: No secret is stored for access key AKIDEXAMPLE" in r.err
    r = cli("--config", site, "config", "check", "--online", "--profile", "beamline")
    assert r.code == 3
