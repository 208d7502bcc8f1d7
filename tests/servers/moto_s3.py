"""A second real S3 server for tests: moto server on a free loopback port, with signatures
checked.

    server = MotoS3Server(tmp_path / "moto").start()   # .endpoint_url, .access_key, .secret_key
    bucket = server.create_bucket()                     # a fresh bucket (random name)
    server.boto3_client()                               # the reference client for cross-checks

moto is the most AWS-like S3 here: multipart ETags are ``md5-of-part-md5s-N``, parts under
5 MiB are refused (EntityTooSmall) except the last, ``If-None-Match: *`` is honoured (412) on
PutObject and CompleteMultipartUpload. Unlike AWS it ignores ``Content-MD5`` and does not
compare a signed payload hash with the body: a body damaged on the way is stored as it
arrived, and only its ETag tells. It accepts any signing region.

Signatures: moto checks none until ``INITIAL_NO_AUTH_ACTION_COUNT`` requests were served; the
fixture spends exactly those on creating an IAM user with an access key and an S3 policy, so
that from then on every request's SigV4 signature is recomputed (with botocore) and a wrong
secret is refused, as the project's S3 tests require.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.servers.loopback import LoopbackServer
from tests.servers.rclone_s3 import random_bucket_name

#: the unauthenticated set-up calls: CreateUser, PutUserPolicy, CreateAccessKey
_SETUP_CALLS = 3
_POLICY = {"Version": "2012-10-17",
           "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


class MotoS3Server(LoopbackServer):
    name = "moto server"

    def __init__(self, workdir, **kw):
        super().__init__(workdir, **kw)
        self.access_key = self.secret_key = None
        self._boto3 = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        exe = Path(sys.executable).parent / "moto_server"
        return [str(exe), "-H", self.host, "-p", str(self.port)]

    def env(self) -> dict:
        import os

        return {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_CALLS),
                "MOTO_ALLOW_NONEXISTENT_REGION": "true"}

    def start(self):
        super().start()
        self._boto3 = None
        self._create_user()
        return self

    def _create_user(self) -> None:
        import boto3

        iam = boto3.client("iam", endpoint_url=self.endpoint_url, region_name="us-east-1",
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="uploader")
        iam.put_user_policy(UserName="uploader", PolicyName="s3",
                            PolicyDocument=json.dumps(_POLICY))
        key = iam.create_access_key(UserName="uploader")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]

    def boto3_client(self):
        """A boto3 client with the server's access key (path style, no retries)."""
        if self._boto3 is None:
            import boto3
            from botocore.config import Config

            self._boto3 = boto3.client(
                "s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))
        return self._boto3

    def create_bucket(self, name: str | None = None) -> str:
        name = name or random_bucket_name()
        self.boto3_client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """moto server checking signatures, shared by the session (attributes as RcloneS3Server's:
    endpoint_url, access_key, secret_key, boto3_client(), create_bucket())."""
    server = MotoS3Server(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture
def moto_bucket(moto_server) -> str:
    """A fresh, empty bucket on ``moto_server``."""
    return moto_server.create_bucket()
