"""Exit status 1 means a bug, and only a bug: each bad input below gets its documented exit
status and one true sentence that says what to do (and with --json, a JSON error document).
One row per input; the S3 rows run against the real S3 server on loopback."""

import os

import pytest

from datauploader.app.paths import resolve
from datauploader.core.locks import JobLock, TargetLock
from datauploader.errors import ExitCode as X

UP = ("upload", "--proposal", "P", "--dataset", "D")


@pytest.fixture
def world(tmp_path, data, cli, s3_server, s3_bucket):
    """What the rows refer to: configuration files, data, a finished job."""
    w = {"data": data, "tmp": tmp_path, "bucket": s3_bucket}

    def ini(name, text):
        path = tmp_path / f"{name}.ini"
        path.write_text(text, encoding="utf-8")
        return path

    def s3(name, extra="", endpoint=None, bucket=None):
        return ini(name, "[settings]\ndefault_profile = s3\nretries = 2\nretry_max_delay = 0.1\n"
                         "[profile:s3]\ncatalogue = local\nstorage = st\n[storage:st]\n"
                         f"type = s3\nendpoint_url = {endpoint or s3_server.endpoint_url}\n"
                         f"bucket = {bucket or s3_bucket}\n{extra}")

    w["ini"], w["s3"] = ini, s3
    w["env"] = {"AWS_ACCESS_KEY_ID": s3_server.access_key,
                "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}
    w["https"] = s3_server.endpoint_url.replace("http://", "https://")
    (tmp_path / "latin1.ini").write_bytes("[settings]\n# caf\xe9\n".encode("latin-1"))
    (tmp_path / "empty").mkdir()
    os.mkfifo(tmp_path / "fifo")
    assert cli("upload", "--proposal", "P", "--dataset", "done", data).code == 0  # job 1
    return w


# (id, argv built from the world, expected status, words the sentence must contain)
ROWS = [
    # the command line itself
    ("no command args", lambda w: ["upload"], X.USAGE, "required"),
    ("unknown command", lambda w: ["uplaod"], X.USAGE, "invalid choice"),
    ("unknown option", lambda w: [*UP, "--wrokers", "2", w["data"]], X.USAGE, "unrecognized"),
    ("workers not a number", lambda w: [*UP, "--workers", "many", w["data"]], X.USAGE,
     "invalid int"),
    ("workers zero", lambda w: [*UP, "--workers", "0", w["data"]], X.USAGE,
     "below the minimum 1"),
    ("workers huge", lambda w: [*UP, "--workers", "1000", w["data"]], X.USAGE,
     "above the maximum 64"),
    ("bwlimit word", lambda w: [*UP, "--bwlimit", "fast", w["data"]], X.USAGE,
     "is not a rate"),
    ("checksum unknown", lambda w: [*UP, "--checksum", "sha1", w["data"]], X.USAGE,
     "invalid choice"),
    ("meta without =", lambda w: [*UP, "--meta", "energy", w["data"]], X.USAGE,
     "should be KEY=VALUE"),
    ("credential without =", lambda w: [*UP, "--credential", "password", w["data"]], X.USAGE,
     "should be FIELD=VALUE"),
    ("settle negative", lambda w: ["watch", "--proposal", "P", "--dataset", "D", "--settle",
                                   "-1", w["data"]], X.USAGE, "cannot be negative"),
    ("limit zero", lambda w: ["jobs", "--limit", "0"], X.USAGE, "give 1 or more"),
    ("config without subcommand", lambda w: ["config"], X.USAGE, "config show"),
    ("leave-out without names", lambda w: ["leave-out", "1"], X.USAGE, "required"),
    # names and paths
    ("dataset escapes", lambda w: ["upload", "--proposal", "P", "--dataset", "../x",
                                   w["data"]], X.USAGE, "cannot be '.' or '..'"),
    ("dataset with slash", lambda w: ["upload", "--proposal", "P", "--dataset", "a/b",
                                      w["data"]], X.USAGE, "contain '/'"),
    ("dataset blank", lambda w: ["upload", "--proposal", "P", "--dataset", " ", w["data"]],
     X.USAGE, "dataset is empty"),
    ("proposal blank", lambda w: ["upload", "--proposal", "", "--dataset", "D", w["data"]],
     X.USAGE, "proposal is empty"),
    ("missing path", lambda w: [*UP, w["tmp"] / "nope"], X.USAGE, "No such file or folder"),
    ("empty folder", lambda w: [*UP, w["tmp"] / "empty"], X.USAGE, "nothing to upload"),
    ("everything excluded", lambda w: [*UP, "--exclude", "*", w["data"]], X.USAGE,
     "nothing to upload"),
    ("a pipe", lambda w: [*UP, w["tmp"] / "fifo"], X.USAGE, "not a regular file"),
    ("same name twice", lambda w: [*UP, w["data"], w["data"]], X.USAGE, "same remote name"),
    # jobs
    ("unknown job resume", lambda w: ["resume", "99"], X.USAGE, "There is no job 99"),
    ("unknown job jobs", lambda w: ["jobs", "99"], X.USAGE, "There is no job 99"),
    ("unknown job verify", lambda w: ["verify", "99"], X.USAGE, "There is no job 99"),
    ("unknown job leave-out", lambda w: ["leave-out", "99", "--all-failed"], X.USAGE,
     "There is no job 99"),
    ("finish a batch job", lambda w: ["finish", "1"], X.USAGE, "not a sync-mode job"),
    ("leave out a good file", lambda w: ["leave-out", "1", "run1/a.h5"], X.USAGE,
     "no failed file named"),
    # configuration
    ("config file missing", lambda w: ["--config", w["tmp"] / "nope.ini", *UP, w["data"]],
     X.USAGE, "does not exist"),
    ("config not utf-8", lambda w: ["--config", w["tmp"] / "latin1.ini", *UP, w["data"]],
     X.USAGE, "not UTF-8"),
    ("config bad line", lambda w: ["--config", w["ini"]("l", "[settings]\nworkers\n"), *UP,
                                   w["data"]], X.USAGE, "is not 'key = value'"),
    ("config unknown setting", lambda w: ["--config", w["ini"]("u", "[settings]\nwrokers = 2\n"),
                                          *UP, w["data"]], X.USAGE, "did you mean 'workers'"),
    ("config secret in a file", lambda w: ["--config", w["s3"]("k", "secret_access_key = x\n"),
                                           *UP, w["data"]], X.USAGE, "secrets do not belong"),
    ("unknown profile", lambda w: [*UP, "--profile", "nope", w["data"]], X.USAGE,
     "no profile 'nope'"),
    ("prefix with an open brace", lambda w: ["--config", w["s3"]("b", "prefix = {proposal/x\n"),
                                             *UP, w["data"]], X.USAGE, "not a valid template"),
    ("prefix unknown placeholder", lambda w: ["--config", w["s3"]("p", "prefix = {run}\n"), *UP,
                                              w["data"]], X.USAGE, "unknown placeholder {run}"),
    ("endpoint not a URL", lambda w: ["--config", w["s3"]("e", endpoint="not a url"), *UP,
                                      w["data"]], X.USAGE, "not an http(s) URL"),
    ("endpoint port out of range", lambda w: ["--config",
                                              w["s3"]("o", endpoint="http://127.0.0.1:99999"),
                                              *UP, w["data"]], X.USAGE, "Port out of range"),
    ("timeout negative", lambda w: ["--config", w["s3"]("t", "timeout = -5\n"), *UP,
                                    w["data"]], X.USAGE, "below the minimum"),
    ("credentials for a folder", lambda w: ["credentials", "set", "local", "--secret-stdin"],
     X.USAGE, "takes no secret"),
    ("trust-host of a folder", lambda w: ["trust-host", "local"], X.USAGE,
     "only SFTP storage has host keys"),
    ("storage folder is a file", lambda w: ["--config", w["ini"]("f", "[settings]\ndefault_profile"
                                            f" = f\n[profile:f]\ncatalogue = local\nstorage = f\n"
                                            f"[storage:f]\ntype = filesystem\npath = "
                                            f"{w['data'] / 'a.h5'}\n"), *UP, w["data"]],
     X.USAGE, "Cannot create the storage folder"),
    # servers
    ("missing bucket", lambda w: ["--config", w["s3"]("m", bucket="no-such-bucket-7"), *UP,
                                  w["data"]], X.USAGE, "does not exist"),
    ("https to a plain-http server", lambda w: ["--config", w["s3"]("h", endpoint=w["https"]),
                                                *UP, w["data"]], X.USAGE, "does not speak TLS"),
    ("wrong secret", lambda w: ["--config", w["s3"]("w"), *UP, w["data"]], X.AUTH,
     "secret"),
    ("nothing listening", lambda w: ["--config", w["s3"]("n", endpoint="http://127.0.0.1:9"),
                                     *UP, w["data"]], X.UNREACHABLE, "connection refused"),
]


JSON_COMMANDS = ("upload", "watch", "finish", "resume", "jobs", "verify", "leave-out")


@pytest.mark.parametrize("argv,code,words", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_gets_its_exit_status_and_a_plain_sentence(world, cli, argv, code, words):
    env = dict(world["env"])
    if words == "secret":  # the wrong secret: the server refuses the signature
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        words = "refused"
    args = [str(a) for a in argv(world)]
    r = cli(*args, env=env)
    assert r.code == code, r.err
    assert r.code != X.ERROR
    assert words in r.err, r.err
    assert "Unexpected error" not in r.err and "Traceback" not in r.err
    command = next((a for a in args if a in JSON_COMMANDS), None)
    if command is None:
        return
    r = cli(*args[:args.index(command) + 1], "--json", *args[args.index(command) + 1:],
            env=env)  # scripts get a JSON document, whatever went wrong
    assert r.code == code, r.err
    doc = r.json
    assert doc["exit_code"] == code and words in doc["error"], doc


def test_a_table_of_at_least_forty_bad_inputs():
    assert len(ROWS) >= 40


def test_a_job_running_elsewhere_and_a_second_job_on_the_same_dataset(world, cli, home):
    """Busy (exit 6): the job held by another process, or its target by another job."""
    paths = resolve(cli.env)
    from datauploader.app.service import Service
    service = Service.open(paths, env=cli.env)
    try:
        job = service.journal.job(1)
    finally:
        service.close()
    from datauploader.core.models import DatasetDefinition
    service = Service.open(paths, env=cli.env)
    try:  # a job of its own, planned and not run yet
        pending = service.create_job(DatasetDefinition(proposal="P", name="pending",
                                                       paths=[str(world["data"])]), "local")
        pending_uuid = service.journal.job(pending).uuid
    finally:
        service.close()
    held = JobLock(paths.locks, pending_uuid)
    assert held.acquire()
    try:
        r = cli("resume", str(pending), "--json")
        assert r.code == X.BUSY and "already running" in r.err
    finally:
        held.release()
    target = TargetLock(paths.locks, job.storage, "P/D")
    assert target.acquire()
    try:
        r = cli(*UP, world["data"])
        assert r.code == X.BUSY and "same dataset" in r.err and "Nothing was sent" in r.err
    finally:
        target.release()
