"""What scripts rely on: one JSON document whatever happens (errors too), one shape for a job
wherever it is printed or exported, the exit codes the help lists, and a pipe that closes
early (``| head -1``) ending the command quietly."""

import csv
import json
import os
import subprocess
import sys

from datauploader.app.paths import resolve
from datauploader.app.service import Service
from datauploader.core.reports import FILE_FIELDS
from datauploader.errors import ExitCode


def test_help_lists_every_exit_code_with_its_meaning(cli):
    for command in ((), ("upload",), ("resume",)):
        text = " ".join(cli(*command, "--help").out.split())
        for code in ExitCode:
            assert f"{code.value} {code.meaning}" in text


def test_a_usage_error_with_json_prints_a_json_error(cli, data):
    r = cli("upload", "--json", "--dataset", "D", data)
    assert r.code == ExitCode.USAGE
    assert r.json == {"error": "the following arguments are required: --proposal. See "
                               "'datauploader upload --help'.", "exit_code": 2}
    assert r.err == f"error: {r.json['error']}\n"
    r = cli("jobs", "--json", "--no-such-option")
    assert r.code == ExitCode.USAGE and r.json["exit_code"] == 2
    assert "--no-such-option" in r.json["error"]


def test_other_errors_with_json_print_a_json_error_too(cli, tmp_path):
    r = cli("upload", "--json", "--proposal", "P", "--dataset", "D", tmp_path / "nowhere")
    assert r.code == ExitCode.USAGE
    assert r.json == {"error": f"No such file or folder: {tmp_path / 'nowhere'}. Check the "
                               "path.", "exit_code": 2}
    r = cli("jobs", "7", "--json")
    assert r.code == ExitCode.USAGE and "7" in r.json["error"]
    # without --json: the sentence on standard error and nothing on standard output
    r = cli("jobs", "7")
    assert r.code == ExitCode.USAGE and r.out == "" and r.err.startswith("error: ")


def test_one_job_document_for_upload_jobs_and_the_report(cli, data, home, tmp_path):
    up = cli("upload", "--json", "--proposal", "P", "--dataset", "D", data).json
    one = cli("jobs", "1", "--json").json
    (listed,) = cli("jobs", "--json").json
    outcome = {"files_ok", "files_failed", "files_left_out", "bytes_done", "bytes_sent", "elapsed", "exit_code"}
    assert set(up) == set(one) | outcome
    assert set(listed) == set(one) - {"files"}
    assert {k: v for k, v in up.items() if k not in outcome} == one
    assert {k: v for k, v in one.items() if k != "files"} == listed
    assert one["created"].endswith("+00:00") and one["finished"].endswith("+00:00")
    assert one["state"] == "completed" and one["mode"] == "batch" and one["files_total"] == 5
    assert all(tuple(f) == FILE_FIELDS for f in one["files"])

    service = Service.open(resolve(cli.env), [], cli.env)
    try:
        assert service.write_report(1, str(tmp_path / "r.json")) == 5
        assert service.write_report(1, str(tmp_path / "r.csv")) == 5
    finally:
        service.close()
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8")) == one
    with open(tmp_path / "r.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == FILE_FIELDS
        rows = list(reader)
    assert rows == [{k: "" if v is None else str(v) for k, v in f.items()} for f in one["files"]]


def test_resume_of_a_complete_job_prints_the_document_with_nothing_done(cli, data):
    assert cli("upload", "--proposal", "P", "--dataset", "D", data).code == 0
    r = cli("resume", "1", "--json")
    assert r.code == 0
    assert (r.json["state"], r.json["files_ok"], r.json["bytes_sent"], r.json["exit_code"]) == (
        "completed", 5, 0, 0)
    assert len(r.json["files"]) == 5


def _subprocess_env(cli):
    return {**os.environ, **cli.env, "PYTHONPATH": os.getcwd()}


def test_a_closed_pipe_ends_the_command_quietly(cli, data):
    assert cli("upload", "--proposal", "P", "--dataset", "D", data).code == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        r = subprocess.run([sys.executable, "-m", "datauploader", "jobs", "--json"],
                           stdout=write_end, stderr=subprocess.PIPE, env=_subprocess_env(cli),
                           text=True, timeout=60)
    finally:
        os.close(write_end)
    assert (r.returncode, r.stderr) == (0, "")


def test_jobs_json_piped_into_head_exits_quietly(cli, tmp_path):
    # a job of many files: more JSON than a pipe holds, so head leaves before it is written
    root = tmp_path / "many"
    root.mkdir()
    for i in range(600):
        (root / f"file-{i:04d}-with-a-longer-name.dat").write_bytes(b"x")
    assert cli("upload", "--proposal", "P", "--dataset", "D", root).code == 0
    du = subprocess.Popen([sys.executable, "-m", "datauploader", "jobs", "1", "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=_subprocess_env(cli))
    head = subprocess.Popen(["head", "-1"], stdin=du.stdout, stdout=subprocess.PIPE)
    du.stdout.close()  # head holds the only reading end now
    first, _ = head.communicate(timeout=60)
    err = du.stderr.read()
    du.stderr.close()
    assert du.wait(timeout=60) == 0 and err == b""
    assert first == b"{\n"
