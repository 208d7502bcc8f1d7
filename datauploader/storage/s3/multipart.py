"""The multipart operations of :class:`~datauploader.storage.s3.client.S3Client` (a mixin
over its signed ``_request``): create, upload a part, list parts, complete, abort, list the
uploads in progress."""

from __future__ import annotations

import hashlib
from typing import Callable
from urllib.parse import unquote_plus
from xml.sax.saxutils import escape as xml_escape

from datauploader.storage.s3.errors import S3Error, error_for, local_name
from datauploader.storage.s3.messages import (MultipartUploadInfo, PartInfo, add_metadata,
                                              parse_xml, unquote_etag)
from datauploader.storage.s3.sigv4 import UNSIGNED_PAYLOAD


class MultipartOperations:
    """Mixed into S3Client, which provides ``_request``, ``_credentials``, ``endpoint_url``
    and ``region``."""

    def create_multipart_upload(self, bucket: str, key: str,
                                metadata: dict[str, str] | None = None,
                                content_type: str = "application/octet-stream") -> str:
        h = {"content-type": content_type}
        if metadata:
            add_metadata(h, metadata)
        r = self._request("POST", bucket, key, params={"uploads": ""}, headers=h,
                          op="CreateMultipartUpload", once=True)
        upload_id = parse_xml(r.body, "CreateMultipartUpload").findtext("{*}UploadId")
        if not upload_id:
            raise S3Error(f"The S3 server at {self.endpoint_url} answered CreateMultipartUpload "
                          "without an upload id.", status=r.status,
                          details=r.body[:500].decode("utf-8", "replace"))
        return upload_id

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    body: bytes | memoryview, *, content_md5_b64: str | None = None,
                    payload_sha256: str | None = None,
                    on_chunk: Callable[[int], object] | None = None) -> str:
        h = {}
        if content_md5_b64:
            h["content-md5"] = content_md5_b64
        r = self._request("PUT", bucket, key,
                          params={"partNumber": str(part_number), "uploadId": upload_id},
                          headers=h, body=body, payload_hash=payload_sha256 or UNSIGNED_PAYLOAD,
                          on_chunk=on_chunk, op="UploadPart")
        return unquote_etag(r.headers.get("etag"))

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        params = {"uploadId": upload_id}
        parts: list[PartInfo] = []
        while True:
            r = self._request("GET", bucket, key, params=params, op="ListParts")
            root = parse_xml(r.body, "ListParts")
            for p in root.iterfind("{*}Part"):
                parts.append(PartInfo(int(p.findtext("{*}PartNumber") or 0),
                                      int(p.findtext("{*}Size") or 0),
                                      unquote_etag(p.findtext("{*}ETag"))))
            marker = root.findtext("{*}NextPartNumberMarker")
            if (root.findtext("{*}IsTruncated") or "").lower() != "true" or not marker:
                return parts
            params = {"uploadId": upload_id, "part-number-marker": marker}

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: list[tuple[int, str]], if_none_match: bool = True) -> str:
        """Complete with ``parts`` = [(part_number, etag)] in ascending order; returns the ETag.
        An error sent in a 200 answer (S3 does that for CompleteMultipartUpload) is raised."""
        xml = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{int(n)}</PartNumber>"
            f"<ETag>\"{xml_escape(unquote_etag(e))}\"</ETag></Part>"
            for n, e in parts) + "</CompleteMultipartUpload>"
        body = xml.encode("utf-8")
        h = {"content-type": "application/xml"}
        if if_none_match:
            h["if-none-match"] = "*"
        r = self._request("POST", bucket, key, params={"uploadId": upload_id}, headers=h,
                          body=body, payload_hash=hashlib.sha256(body).hexdigest(),
                          op="CompleteMultipartUpload", once=True)
        root = parse_xml(r.body, "CompleteMultipartUpload")
        if local_name(root.tag) == "Error":
            # S3 answers 200 at once and may report a late failure in the body.
            raise error_for(r, "CompleteMultipartUpload", bucket, key,
                            self._credentials().access_key, self.endpoint_url, self.region)
        etag = root.findtext("{*}ETag") or r.headers.get("etag")
        return unquote_etag(etag)

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._request("DELETE", bucket, key, params={"uploadId": upload_id}, ok=(200, 204),
                      op="AbortMultipartUpload")

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[MultipartUploadInfo]:
        """Multipart uploads in progress under ``prefix``: [(key, upload_id, initiated)]."""
        base = {"uploads": "", "encoding-type": "url"}
        if prefix:
            base["prefix"] = prefix
        params = base
        out: list[MultipartUploadInfo] = []
        while True:
            r = self._request("GET", bucket, None, params=params, op="ListMultipartUploads")
            root = parse_xml(r.body, "ListMultipartUploads")
            decode = (root.findtext("{*}EncodingType") or "").lower() == "url"
            for u in root.iterfind("{*}Upload"):
                k = u.findtext("{*}Key") or ""
                out.append(MultipartUploadInfo(unquote_plus(k) if decode else k,
                                               u.findtext("{*}UploadId") or "",
                                               u.findtext("{*}Initiated")))
            if (root.findtext("{*}IsTruncated") or "").lower() != "true":
                return out
            km = root.findtext("{*}NextKeyMarker")
            um = root.findtext("{*}NextUploadIdMarker")
            if not km and not um:
                return out
            params = dict(base)
            if km:
                params["key-marker"] = unquote_plus(km) if decode else km
            if um:
                params["upload-id-marker"] = um
