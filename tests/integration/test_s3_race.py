"""Issue 13, point 1: two computers upload 300 files each, with different bytes, to the same
dataset on rclone serve s3 (which ignores If-None-Match), started together: two processes with
journals and catalogues of their own. One writes the dataset and completes; the other ends
with exit 4 and a clear sentence, having replaced nothing; every catalogue entry of either
describes the bytes that are stored."""

import hashlib
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from datauploader.errors import ExitCode

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FILES = 300


def computer(tmp_path, name, server, bucket):
    """The data, configuration and environment of one computer."""
    root = tmp_path / name
    data = root / "data" / "run"
    data.mkdir(parents=True)
    for i in range(FILES):
        (data / f"f{i:03d}.bin").write_bytes(name.encode() * 16 + os.urandom(20_000))
    cfg = root / "datauploader.ini"
    cfg.write_text(
        "[settings]\ndefault_profile = s3\nretry_max_delay = 0.1\n"
        f"[catalogue:here]\ntype = local\npath = {root / 'catalogue.sqlite'}\n"
        "[profile:s3]\ncatalogue = here\nstorage = s3t\n"
        f"[storage:s3t]\ntype = s3\nendpoint_url = {server.endpoint_url}\nbucket = {bucket}\n")
    env = {**os.environ, "DATAUPLOADER_HOME": str(root / "home"),
           "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
           "AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key}
    # a bandwidth limit keeps each upload running for seconds: the two overlap
    argv = [sys.executable, "-m", "datauploader", "--config", str(cfg), "upload", "--json",
            "--proposal", "P", "--dataset", "D", "--bwlimit", "1M", str(data)]
    return root, data, argv, env


def test_two_computers_racing_on_one_dataset(tmp_path, s3_server, s3_bucket):
    pcs = {n: computer(tmp_path, n, s3_server, s3_bucket) for n in ("A", "B")}
    procs = {n: subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for n, (_, _, argv, env) in pcs.items()}
    outcome = {}
    for n, p in procs.items():
        out, err = p.communicate(timeout=240)
        outcome[n] = (p.returncode, json.loads(out), err.decode())

    s3 = s3_server.boto3_client()
    stored = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket):
        for o in page.get("Contents", []):
            stored[o["Key"]] = s3.get_object(Bucket=s3_bucket, Key=o["Key"])["Body"].read()
    local = {n: {f"P/D/run/{p.name}": p.read_bytes() for p in data.iterdir()}
             for n, (_, data, _, _) in pcs.items()}

    winners = [n for n, (code, doc, _) in outcome.items() if doc["state"] == "completed"]
    assert len(winners) == 1, {n: (c, d["state"], d["error"]) for n, (c, d, _) in outcome.items()}
    winner, = winners
    loser, = set(pcs) - {winner}
    # the winner: exit 0, and every object is its file, as it was sent (nothing lost)
    assert outcome[winner][0] == ExitCode.OK
    assert stored == local[winner]
    # the loser: exit 4, a clear sentence, nothing of it registered as stored
    code, doc, err = outcome[loser]
    assert code == ExitCode.INCOMPLETE, err
    said = doc["error"] + " ".join(f["error"] or "" for f in doc["files"])
    assert ("Another upload is writing this dataset" in doc["error"]
            or all("already exists with other content" in (f["error"] or "")
                   for f in doc["files"])), said
    assert not any(f["state"] in ("verified", "registered") for f in doc["files"])
    # every catalogue entry describes the stored bytes
    for n, (root, _, _, _) in pcs.items():
        db = root / "catalogue.sqlite"
        if not db.exists():
            continue  # this computer never got as far as its catalogue
        rows = sqlite3.connect(db).execute("SELECT name, size, checksum FROM datafiles").fetchall()
        assert len(rows) == (FILES if n == winner else 0)
        for name, size, checksum in rows:
            body = stored[f"P/D/{name}"]
            assert (size, checksum) == (len(body), hashlib.sha256(body).hexdigest()), (n, name)
    # no claim, probe or temporary object left behind
    assert set(stored) == set(local[winner])
