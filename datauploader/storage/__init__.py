"""Storage backends: they move bytes, nothing else. Chosen by ``type`` in a [storage:…] section."""

from __future__ import annotations

import importlib

#: type name → "module:Class", imported only when used
BACKENDS = {
    "filesystem": "datauploader.storage.filesystem:FilesystemStorage",
    "s3": "datauploader.storage.s3.backend:S3Storage",
    "webdav": "datauploader.storage.webdav.backend:WebDAVStorage",
    "sftp": "datauploader.storage.sftp.backend:SFTPStorage",
    "rclone": "datauploader.storage.rclone.backend:RcloneStorage",
    "ids": "datauploader.storage.ids:IDSStorage",
    "etiket": "datauploader.storage.etiket:EtiketStorage",
}


def backend_class(kind: str):
    module, _, name = BACKENDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)
