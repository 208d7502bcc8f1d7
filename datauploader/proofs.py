"""How the storage proved that it holds what was sent: the words of ``verified_by``.

Backends build their ``UploadResult.verified_by`` only from these; the journal keeps the text,
the reports and ``--json`` show it. A proof is one of the fixed ``Proof`` values or one of the
algorithm-named ones below; ``both`` joins proofs that all held ("size+server-md5"),
``already_present`` marks a file found on the storage with the same content (nothing was
sent), ``resumed_at`` a file whose upload continued a partial one.
"""

from __future__ import annotations

from enum import Enum


class Proof(str, Enum):
    SIZE = "size"  # the storage reports the size that was sent
    ETAG_MD5 = "etag-md5"  # the object's ETag is the MD5 of what was sent
    ETAG_MULTIPART_MD5 = "etag-multipart-md5"  # the multipart ETag is that of the parts' MD5s
    CONTENT_MD5 = "content-md5"  # the server checked the body against the Content-MD5 sent
    SIGNED_SHA256 = "signed-sha256"  # the request signature covers the body's SHA-256
    PARTS_MD5 = "parts-md5"  # the server checked each part against its Content-MD5
    IDS_CRC32 = "ids-crc32"  # ICAT's data service reports the CRC32 of what was sent
    VALIDATED_MD5 = "validated-md5"  # the server checked the stored object against our MD5

    def __str__(self) -> str:
        return self.value


def reread(algorithm: str) -> str:
    """Read back from the storage and hashed: the same checksum as sent ("sha256-reread")."""
    return f"{algorithm}-reread"


def compared(algorithm: str) -> str:
    """A file already in the target folder, hashed and found the same ("sha256-compare")."""
    return f"{algorithm}-compare"


def server_hash(algorithm: str) -> str:
    """A command on the server hashed the stored file ("server-md5": SFTP's md5sum)."""
    return f"server-{algorithm}"


def remote_hash(algorithm: str) -> str:
    """The hash the rclone remote states for the stored file ("remote-md5")."""
    return f"remote-{algorithm}"


def recorded(algorithm: str) -> str:
    """The checksum an earlier upload recorded with the object (S3 metadata)."""
    return f"recorded-{algorithm}"


def stated(header: str, algorithm: str) -> str:
    """A checksum the server states in an answer ("digest-adler32", "oc-checksum-sha1")."""
    return f"{header}-{algorithm}"


def both(*proofs: str) -> str:
    """Proofs that all held, in the order they were made."""
    return "+".join(str(p) for p in proofs)


def already_present(proof: str) -> str:
    """Found on the storage, proven the same by ``proof``; nothing was sent."""
    return f"already present ({proof})"


def resumed_at(proof: str, offset: int) -> str:
    """The upload continued a partial file from byte ``offset``; ``proof`` covers the whole."""
    return f"{proof}; resumed at {offset}"
