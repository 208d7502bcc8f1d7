"""Configurations and checks shared by the adversarial S3 tests (issue 13): a profile on any
S3 server (rclone serve s3, moto server, either through the fault proxy), the objects under a
prefix, and the multipart uploads in progress."""

from __future__ import annotations

import hashlib


def s3_profile(tmp_path, server, bucket, endpoint=None, *, settings="", extra="",
               name="s3") -> tuple:
    """(config file, environment) of a profile ``s3`` with the local catalogue on ``server``
    (its access key in the AWS environment), reached at ``endpoint`` (default: the server's
    own address; a fault proxy's to put one in between). Retries wait 0.1 s at most."""
    path = tmp_path / f"{name}-{bucket}.ini"
    path.write_text(
        "[settings]\ndefault_profile = s3\nretry_max_delay = 0.1\n" + settings +
        "\n[profile:s3]\ncatalogue = local\nstorage = s3t\n"
        f"[storage:s3t]\ntype = s3\nendpoint_url = {endpoint or server.endpoint_url}\n"
        f"bucket = {bucket}\n{extra}")
    return path, {"AWS_ACCESS_KEY_ID": server.access_key,
                  "AWS_SECRET_ACCESS_KEY": server.secret_key}


def stored(server, bucket, prefix="") -> dict[str, bytes]:
    """Every object under ``prefix``, with its bytes (read with boto3)."""
    s3 = server.boto3_client()
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    return out


def uploads_in_progress(server, bucket) -> list[dict]:
    """ListMultipartUploads (rclone answers NoSuchUpload for a bucket that never had one)."""
    s3 = server.boto3_client()
    try:
        return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    except s3.exceptions.NoSuchUpload:
        return []


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
