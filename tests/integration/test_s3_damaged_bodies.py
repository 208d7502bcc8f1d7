"""Issue 13, point 2: a body damaged on the way is never "verified".

moto server (signatures checked) ignores Content-MD5 and does not compare the signed payload
hash with the body: through the fault proxy, which flips one bit of a request body, it stores
the damaged bytes and answers with their MD5 as ETag, exactly the server the issue met. (No
test here needs moto without signatures: the flip leaves every signed header as it was.)
"""

import os

import pytest

from datauploader.errors import ExitCode
from tests.integration.s3_rig import s3_profile, sha256, stored
from tests.servers.fault_proxy import Fault

pytestmark = pytest.mark.integration
MiB = 1 << 20


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "data" / "run"
    root.mkdir(parents=True)
    content = {"a.bin": os.urandom(5000), "b.bin": os.urandom(7000)}
    for name, data in content.items():
        (root / name).write_bytes(data)
    return root, content


def upload(cli, cfg, env, root):
    return cli("--config", cfg, "upload", "--json", "--proposal", "P", "--dataset", "D", root,
               env=env)


def rows(result):
    return {f["name"]: f for f in result.json["files"]}


def test_a_damaged_single_put_is_sent_again_and_the_stored_bytes_are_the_files(
        cli, tmp_path, moto_server, moto_bucket, fault_proxy, files):
    root, content = files
    proxy = fault_proxy(moto_server.endpoint_url)
    cfg, env = s3_profile(tmp_path, moto_server, moto_bucket, proxy.url)
    flip = proxy.inject(Fault.flip(at=100, method="PUT", path=r"/run/a\.bin$"))
    r = upload(cli, cfg, env, root)
    assert r.code == ExitCode.OK, r.err + r.out
    assert flip.fired == 1
    assert stored(moto_server, moto_bucket, "P/D/") == {
        f"P/D/run/{n}": data for n, data in content.items()}
    a = rows(r)["run/a.bin"]
    assert (a["state"], a["verified_by"], a["retries"]) == ("registered", "etag-md5", 1)


def test_a_body_damaged_on_every_try_fails_that_file_and_leaves_nothing_stored(
        cli, tmp_path, moto_server, moto_bucket, fault_proxy, files, home):
    root, content = files
    proxy = fault_proxy(moto_server.endpoint_url)
    cfg, env = s3_profile(tmp_path, moto_server, moto_bucket, proxy.url)
    flip = proxy.inject(Fault.flip(at=100, method="PUT", path=r"/run/a\.bin$", times=None))
    r = upload(cli, cfg, env, root)
    assert r.code == ExitCode.INCOMPLETE, r.err + r.out  # that file's failure, not the server's
    assert flip.fired == 5
    a = rows(r)["run/a.bin"]
    assert a["state"] == "failed" and a["verified_by"] is None and a["retries"] == 4
    assert "/P/D/run/a.bin' damaged" in a["error"] and "Gave up after 5 tries" in a["error"]
    # the damaged object was removed; the other file is there as it was sent
    assert stored(moto_server, moto_bucket, "P/D/") == {"P/D/run/b.bin": content["b.bin"]}
    import sqlite3
    cat = sqlite3.connect(home / "data" / "catalogue.sqlite")
    assert cat.execute("SELECT name FROM datafiles").fetchall() == [("run/b.bin",)]
    assert cat.execute("SELECT complete FROM datasets").fetchone() == (0,)


def test_a_damaged_part_is_sent_again_by_itself(cli, tmp_path, moto_server, moto_bucket,
                                                fault_proxy):
    root = tmp_path / "data" / "run"
    root.mkdir(parents=True)
    big = os.urandom(11 * MiB)  # three parts of 5 MiB (moto refuses smaller ones but the last)
    (root / "big.bin").write_bytes(big)
    proxy = fault_proxy(moto_server.endpoint_url)
    cfg, env = s3_profile(tmp_path, moto_server, moto_bucket, proxy.url,
                          extra="multipart_threshold = 6M\npart_size = 5M\n")
    flip = proxy.inject(Fault.flip(at=12345, method="PUT", path=r"partNumber=2"))
    r = upload(cli, cfg, env, root)
    assert r.code == ExitCode.OK, r.err + r.out
    assert flip.fired == 1
    row = rows(r)["run/big.bin"]
    assert (row["verified_by"], row["retries"]) == ("etag-multipart-md5", 1)
    assert len(proxy.seen(method="PUT", path=r"big\.bin\?partNumber=")) == 4  # part 2 twice
    assert stored(moto_server, moto_bucket, "P/D/") == {"P/D/run/big.bin": big}
    assert row["checksum"] == sha256(big)


def test_a_recorded_checksum_proves_nothing_about_the_bytes(cli, tmp_path, moto_server,
                                                            moto_bucket, files):
    """An object whose metadata states our checksum but whose bytes differ (what a body
    damaged on the way leaves on a server that ignores Content-MD5) is never adopted as ours,
    nor passed by a quick verify."""
    root, content = files
    cfg, env = s3_profile(tmp_path, moto_server, moto_bucket)
    s3 = moto_server.boto3_client()
    same_size = bytearray(content["a.bin"])
    same_size[100] ^= 1
    meta = {"du-checksum": "sha256:" + sha256(content["a.bin"])}
    s3.put_object(Bucket=moto_bucket, Key="P/D/run/a.bin", Body=bytes(same_size), Metadata=meta)
    r = upload(cli, cfg, env, root)
    assert r.code == ExitCode.INCOMPLETE, r.err + r.out
    a = rows(r)["run/a.bin"]
    assert a["state"] == "failed" and "already exists with other content" in a["error"]
    assert s3.get_object(Bucket=moto_bucket, Key="P/D/run/a.bin")["Body"].read() == same_size

    # a quick verify compares the ETag the object had when this job stored it
    s3.put_object(Bucket=moto_bucket, Key="P/D/run/b.bin",
                  Body=bytes(b ^ 1 for b in content["b.bin"]),
                  Metadata={"du-checksum": "sha256:" + sha256(content["b.bin"])})
    r = cli("--config", cfg, "verify", "1", "--quick", "--json", env=env)
    assert r.code == ExitCode.INCOMPLETE
    problems = {p["file"]: p for p in r.json["problems"]}
    assert problems["run/b.bin"]["status"] == "checksum-mismatch"
    assert "replaced" in problems["run/b.bin"]["detail"]
