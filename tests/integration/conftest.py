import os

import pytest

from tests.cli.conftest import Result, cli, data, home  # noqa: F401 - shared fixtures


@pytest.fixture
def s3_config(tmp_path, s3_server, s3_bucket):
    """A configuration file with an 's3' profile on the real rclone S3 server, small parts so
    that multipart paths run on small data, and the AWS environment for its credentials."""

    def make(bucket=s3_bucket, endpoint=None, extra="", settings=""):
        path = tmp_path / f"s3-{bucket}.ini"
        path.write_text(
            "[settings]\ndefault_profile = s3\n" + settings +
            "\n[profile:s3]\ncatalogue = local\nstorage = s3t\n"
            f"[storage:s3t]\ntype = s3\nendpoint_url = {endpoint or s3_server.endpoint_url}\n"
            f"bucket = {bucket}\nmultipart_threshold = 1M\npart_size = 1M\n"
            f"part_concurrency = 3\n{extra}")
        return path

    make.env = {"AWS_ACCESS_KEY_ID": s3_server.access_key,
                "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}
    make.bucket = s3_bucket
    return make


@pytest.fixture
def s3_data(tmp_path):
    """Small files with awkward names, an empty file, and files above the 1 MiB threshold."""
    root = tmp_path / "data" / "run"
    (root / "sub").mkdir(parents=True)
    files = {"a.h5": os.urandom(5000), "empty.txt": b"", "with space #1 100%?.txt": b"odd",
             "unicodé ✓.dat": b"unicode", "sub/exactly-1M.bin": os.urandom(1 << 20),
             "sub/big.bin": os.urandom(3 * (1 << 20) + 12345), "plus+and&equal=.txt": b"p"}
    for rel, content in files.items():
        (root / rel).write_bytes(content)
    return root
