"""Shared fixtures. Keep this file small and generic; server helpers live in tests/servers/."""

from __future__ import annotations

import pytest

from tests.servers.fault_proxy import fault_proxy  # noqa: F401 - shared fixture
from tests.servers.moto_s3 import moto_bucket, moto_server  # noqa: F401 - shared fixtures
from tests.servers.rclone_s3 import RcloneS3Server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (``rclone serve s3``) on a free loopback port, shared by the session.
    Attributes: endpoint_url, access_key, secret_key, root; ``boto3_client()`` for
    cross-checks. Tests that stop or kill a server should start their own RcloneS3Server."""
    server = RcloneS3Server(tmp_path_factory.mktemp("s3") / "root")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A fresh, empty bucket (random name) on ``s3_server``."""
    if not s3_server.running:
        s3_server.start()
    return s3_server.create_bucket()
