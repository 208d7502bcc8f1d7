"""Full jobs against a real S3 server (rclone serve s3 on loopback), from the command line."""

import hashlib
import sqlite3

import pytest

from datauploader.errors import ExitCode
from tests.servers.rclone_s3 import RcloneS3Server, free_port

pytestmark = pytest.mark.integration


def objects(server, bucket):
    s3 = server.boto3_client()
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = o["Size"]
    return out


def test_full_job_every_object_identical_registered_and_verified(cli, s3_config, s3_server,
                                                                   s3_data, home):
    cfg = s3_config()
    r = cli("--config", cfg, "upload", "--json", "--proposal", "MX-1", "--dataset", "scan 9",
            s3_data, env=s3_config.env)
    assert r.code == ExitCode.OK, r.err + r.out
    assert r.json["files_ok"] == 7
    s3 = s3_server.boto3_client()
    for p in s3_data.rglob("*"):
        if p.is_file():
            key = f"MX-1/scan 9/run/{p.relative_to(s3_data).as_posix()}"
            body = s3.get_object(Bucket=s3_config.bucket, Key=key)["Body"].read()
            assert body == p.read_bytes(), key
    # the journal records how each was verified and its sha256
    job = cli("jobs", "1", "--json", env=s3_config.env).json
    by_name = {f["name"]: f for f in job["files"]}
    assert by_name["run/sub/big.bin"]["verified_by"] in ("etag-multipart-md5", "parts-md5+size")
    assert by_name["run/a.h5"]["verified_by"].startswith("etag-md5")
    assert by_name["run/sub/big.bin"]["checksum"] == hashlib.sha256(
        (s3_data / "sub/big.bin").read_bytes()).hexdigest()
    assert by_name["run/a.h5"]["location"] == f"s3://{s3_config.bucket}/MX-1/scan 9/run/a.h5"
    # small objects carry our checksum in their metadata
    head = s3.head_object(Bucket=s3_config.bucket, Key="MX-1/scan 9/run/a.h5")
    meta = {k.lower(): v for k, v in head["Metadata"].items()}
    assert meta["du-checksum"] == "sha256:" + by_name["run/a.h5"]["checksum"]
    # no multipart upload left behind
    assert s3.list_multipart_uploads(Bucket=s3_config.bucket).get("Uploads", []) == []
    r = cli("--config", cfg, "verify", "1", env=s3_config.env)
    assert r.code == 0 and "7 of 7 files verified (full); all good." in r.out
    cat = sqlite3.connect(home / "data" / "catalogue.sqlite")
    assert cat.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 1
    assert cat.execute("SELECT COUNT(*) FROM datafiles").fetchone()[0] == 7


def test_verify_detects_damage_on_s3(cli, s3_config, s3_server, s3_data):
    cfg = s3_config()
    assert cli("--config", cfg, "upload", "--proposal", "P", "--dataset", "D", s3_data,
               env=s3_config.env).code == 0
    s3 = s3_server.boto3_client()
    s3.delete_object(Bucket=s3_config.bucket, Key="P/D/run/a.h5")
    s3.put_object(Bucket=s3_config.bucket, Key="P/D/run/unicodé ✓.dat", Body=b"UNICODE")
    r = cli("--config", cfg, "verify", "1", "--json", env=s3_config.env)
    assert r.code == ExitCode.INCOMPLETE
    assert {p["file"]: p["status"] for p in r.json["problems"]} == {
        "run/a.h5": "missing", "run/unicodé ✓.dat": "checksum-mismatch"}


def test_rerun_uploads_nothing_and_an_existing_foreign_object_is_not_overwritten(
        cli, s3_config, s3_server, s3_data):
    cfg = s3_config()
    s3 = s3_server.boto3_client()
    s3.put_object(Bucket=s3_config.bucket, Key="P/D/run/a.h5", Body=b"not ours")
    r = cli("--config", cfg, "upload", "--json", "--proposal", "P", "--dataset", "D", s3_data,
            env=s3_config.env)
    assert r.code == ExitCode.INCOMPLETE
    assert [f["name"] for f in r.failed] == ["run/a.h5"]
    assert "not overwritten" in r.failed[0]["error"]
    assert s3.get_object(Bucket=s3_config.bucket, Key="P/D/run/a.h5")["Body"].read() == b"not ours"
    # the owner removes it; resume uploads only that file
    s3.delete_object(Bucket=s3_config.bucket, Key="P/D/run/a.h5")
    r = cli("--config", cfg, "resume", "1", "--json", env=s3_config.env)
    assert r.code == 0 and r.json["bytes_sent"] == 5000
    # a re-run of the whole upload sends nothing at all
    r = cli("--config", cfg, "upload", "--json", "--proposal", "P", "--dataset", "D", s3_data,
            env=s3_config.env)
    assert r.code == 0 and r.json["bytes_sent"] == 0 and r.json["files_ok"] == 7


def test_wrong_credentials_give_the_auth_exit_code(cli, s3_config, s3_data):
    cfg = s3_config()
    r = cli("--config", cfg, "upload", "--proposal", "P", "--dataset", "D", s3_data,
            env={**s3_config.env, "AWS_SECRET_ACCESS_KEY": "wrong-secret-0000000000"})
    assert r.code == ExitCode.AUTH
    assert "refused" in r.err and "wrong-secret" not in r.err
    r = cli("--config", cfg, "upload", "--proposal", "P", "--dataset", "D", s3_data,
            env={**s3_config.env, "AWS_ACCESS_KEY_ID": "NOSUCHKEYID"})
    assert r.code == ExitCode.AUTH


def test_missing_credentials_are_explained(cli, s3_config, s3_data, tmp_path):
    cfg = s3_config()
    r = cli("--config", cfg, "upload", "--proposal", "P", "--dataset", "D", s3_data,
            env={"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                 "AWS_CONFIG_FILE": str(tmp_path / "none")})
    assert r.code == ExitCode.AUTH


def test_unreachable_server_retries_then_resumes_when_it_is_back(cli, s3_config, s3_data,
                                                                 tmp_path):
    port = free_port()
    cfg = s3_config(endpoint=f"http://127.0.0.1:{port}", settings="retries = 2\n")
    r = cli("--config", cfg, "upload", "--json", "--proposal", "P", "--dataset", "D", s3_data,
            env=s3_config.env)
    assert r.code == ExitCode.UNREACHABLE
    assert r.json["state"] == "failed"
    assert f"127.0.0.1:{port}" in r.json["error"] and "resume 1" in r.json["error"]
    server = RcloneS3Server(tmp_path / "late-s3", port=port)
    server.start()
    try:
        server.create_bucket(s3_config.bucket)
        r = cli("--config", cfg, "resume", "1", "--json", env=s3_config.env)
        assert r.code == 0 and r.json["files_ok"] == 7
    finally:
        server.stop()


def test_missing_bucket_is_a_clear_error(cli, s3_config, s3_data):
    cfg = s3_config(bucket="no-such-bucket-here")
    r = cli("--config", cfg, "upload", "--proposal", "P", "--dataset", "D", s3_data,
            env=s3_config.env)
    assert r.code != 0 and "no-such-bucket-here" in r.err and "does not exist" in r.err


def test_config_check_online(cli, s3_config):
    cfg = s3_config()
    r = cli("--config", cfg, "config", "check", "--online", "--profile", "s3", env=s3_config.env)
    assert r.code == 0 and "reachable, credentials accepted" in r.out
