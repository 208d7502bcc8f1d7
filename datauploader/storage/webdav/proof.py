"""What proves a file stored on a WebDAV server (``verify = auto``): a checksum the server
states in the PUT answer, a HEAD (``Digest``, ``OC-Checksum``) or a PROPFIND (ownCloud's
``oc:checksums``), an ETag that is the MD5 of the content, else its size; with ``reread``,
reading it back. What a server offers is learnt on a job's first file (before a large first
file, from an empty PUT of a probe file), so that later files skip requests that cannot help
and hashes nobody will compare. ``verified_by`` names what was compared: ``etag-md5``,
``oc-checksum-sha1``, ``size+digest-adler32``, ``size``, ``sha256-reread`` …
"""

from __future__ import annotations

from urllib.parse import unquote

from datauploader import proofs
from datauploader.errors import VerificationError
from datauploader.net.http import Response
from datauploader.proofs import Proof
from datauploader.storage.tempnames import TEMP_SUFFIX
from datauploader.storage.webdav.protocol import (HEAD_HEADERS, PUT_HEADERS, parse_digest,
                                                  parse_oc_checksums, strong_etag)

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
COMPUTABLE = ("sha256", "md5", "sha1", "adler32", "crc32")
CHEAPEST_FIRST = ("crc32", "adler32", "sha1", "sha256", "md5")  # to compute, of what is stated


def _looks_like_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)


class SuspectETag(Exception):
    """An ETag that is (or looks like) the MD5 of the content differs from it: only reading
    the file back can tell damage from an opaque ETag."""


class Proofs:
    """Mixed into WebDAVStorage, which provides ``_request``, ``_read_back``, ``_propfind``,
    ``_fail``, ``_lock``, ``_collections``, ``verify_mode`` and what was learnt about the
    server (``_learnt``, ``_probed``, ``_put_proves``, ``_etag_is_md5``, ``_stat_by``,
    ``_server_algs``)."""

    def _extra_algorithms(self, algorithm: str) -> tuple[str, ...]:
        """Hashes worth computing besides the job's: one the server states (the cheapest),
        else MD5 while its ETags are (or may be) MD5s; while the server's habits are still
        unknown (the first files of a job), ADLER32 too (dCache's). None where ``verify``
        compares no server checksum (size, reread)."""
        if self.verify_mode != "auto":
            return ()
        stated = self._server_algs
        if stated:
            if algorithm in stated:
                return ()
            for a in CHEAPEST_FIRST:
                if a in stated:
                    return (a,)
        want = ()
        if self._etag_is_md5 is not False and algorithm != "md5":
            want = ("md5",)
        if not (self._learnt or self._probed) and algorithm != "adler32":
            want += ("adler32",)
        return want

    def _proof(self, stated: tuple, etag: str | None, sums: dict[str, str],
               where: str) -> str | None:
        """How the server's statements prove the content equals ``sums``: ``stated`` are
        (kind, {alg: hex}) pairs (``digest``, ``oc-checksum``), ``etag`` the strong ETag.
        None: they do not say. Raises VerificationError when a checksum the server computed
        differs, SuspectETag when an ETag that is (or looks like) an MD5 differs."""
        for kind, values in stated:
            if not values:
                continue
            if not self._server_algs.issuperset(values):
                with self._lock:
                    self._server_algs = self._server_algs | {a for a in values
                                                             if a in COMPUTABLE}
            for alg, value in values.items():
                if alg in sums:
                    if value != sums[alg]:
                        raise VerificationError(
                            f"The WebDAV server reports {alg} {value} for {where}, but "
                            f"{sums[alg]} was sent; the data was damaged on the way or on the "
                            "server.")
                    return proofs.stated(kind, alg)
        if etag and "md5" in sums:
            if etag == sums["md5"]:
                self._etag_is_md5 = True
                return Proof.ETAG_MD5
            if self._etag_is_md5 or (self._etag_is_md5 is None and _looks_like_md5(etag)):
                raise SuspectETag()  # damaged, or an opaque ETag that looks like an MD5
            self._etag_is_md5 = False  # an opaque ETag: stop computing MD5 for it
        return None

    @staticmethod
    def _stated(headers: dict) -> tuple:
        return (("digest", parse_digest(headers.get("digest"))),
                ("oc-checksum", parse_oc_checksums(headers.get("oc-checksum"))))

    def _head_behind(self, temp: str) -> tuple | None:
        """The HEAD that verification will need, to be pipelined behind the PUT of a small
        file (one send, one wait less), unless the PUT's answer will do or a PROPFIND is
        needed instead."""
        if self.verify_mode == "size":
            return ("HEAD", temp, None)
        if self.verify_mode == "auto" and not self._put_proves and self._stat_by != "propfind":
            return ("HEAD", temp, HEAD_HEADERS)
        return None

    def _verify(self, path: str, size: int, sums: dict[str, str], algorithm: str,
                put_headers: dict, cancel, head: Response | None = None) -> str:
        """Prove what the server holds at ``path`` (auto: its checksum where it states one,
        else its size; size: its size; reread: read back); returns how, for the journal.
        ``head``: the answer to a HEAD pipelined behind the PUT, if there was one."""
        where = unquote(path)
        mode = self.verify_mode
        try:
            if mode == "reread":
                return self._reread(path, size, sums, algorithm, where, cancel)
            if mode == "auto":
                how = self._proof(self._stated(put_headers),
                                  strong_etag(put_headers.get("etag")), sums, where)
                if how:
                    self._put_proves = True
                    return how
                if self._stat_by == "propfind":
                    how, _ = self._propfind_proof(path, size, sums, where)
                    return proofs.both(Proof.SIZE, how) if how else Proof.SIZE
            r = head if head is not None and head.status == 200 else \
                self._request("HEAD", path, HEAD_HEADERS if mode == "auto" else None)
            if r.status != 200:
                raise self._fail(r, "checking", where)
            self._check_size(r.headers.get("content-length"), size, where)
            if mode == "size":
                return Proof.SIZE
            how = self._proof(self._stated(r.headers), strong_etag(r.headers.get("etag")),
                              sums, where)
            if how is None and self._stat_by is None:
                # learning: does a PROPFIND state checksums (ownCloud's oc:checksums)?
                how, states = self._propfind_proof(path, size, sums, where)
                self._stat_by = "propfind" if states else "head"
            return proofs.both(Proof.SIZE, how) if how else Proof.SIZE
        except SuspectETag:
            how = self._reread(path, size, sums, algorithm, where, cancel)
            if self._etag_is_md5 is None:
                self._etag_is_md5 = False  # the content is right, the ETag is not its MD5
            return how
        finally:
            if not self._learnt:
                self._learnt = True
                if self._etag_is_md5 is None:
                    self._etag_is_md5 = False

    def _propfind_proof(self, path: str, size: int, sums: dict[str, str],
                        where: str) -> tuple[str | None, bool]:
        """(proof or None, whether the server states checksums there) from a PROPFIND."""
        entries = [e for e in self._propfind(path, "0") if not e[1]]
        if not entries:
            raise VerificationError(f"After uploading, the WebDAV server does not list "
                                    f"{where}.")
        _, _, length, etag, listed = entries[0]
        self._check_size(str(length), size, where)
        return self._proof((("oc-checksum", listed),), etag, sums, where), bool(listed)

    @staticmethod
    def _check_size(length: str | None, size: int, where: str) -> None:
        if length is None or not length.isdigit() or int(length) != size:
            raise VerificationError(f"After uploading, the WebDAV server reports {length} "
                                    f"bytes for {where}, {size} were sent.")

    def _reread(self, path: str, size: int, sums: dict[str, str], algorithm: str, where: str,
                cancel) -> str:
        got, n = self._read_back(path, algorithm, cancel)
        if n != size or got != sums[algorithm]:
            raise VerificationError(f"Reading {where} back gave {n} bytes with {algorithm} "
                                    f"{got}; {size} bytes with {sums[algorithm]} were sent.")
        return proofs.reread(algorithm)

    def _probe(self, temp: str, folder: str) -> None:
        """Before a job's first large file: learn from an empty PUT whether the server's ETags
        are MD5s (the MD5 of nothing is d41d8cd98f00b204e9800998ecf8427e) and which checksums
        it states, so that a whole file is hashed with MD5 only for a server that will state
        its MD5. The empty file has a name of its own (ours by the temporary-name pattern) and
        is deleted at once: a PUT over an existing file can cost a server more than a new one
        (``rclone serve webdav``: half a second more per GiB)."""
        probe = temp[:-len(TEMP_SUFFIX)] + "-probe" + TEMP_SUFFIX
        r = self._request("PUT", probe, PUT_HEADERS, body=b"")
        if r.status == 412:  # left by an interrupted attempt of ours
            self._request("DELETE", probe)
            r = self._request("PUT", probe, PUT_HEADERS, body=b"")
        if r.status == 409:  # folder removed behind our back: the upload will see to it
            with self._lock:
                self._collections.discard(folder)
            return
        if r.status not in (200, 201, 204):
            return
        try:
            headers = r.headers
            if not (headers.get("etag") or headers.get("digest") or headers.get("oc-checksum")):
                h = self._request("HEAD", probe, HEAD_HEADERS)
                if h.status == 200:
                    headers = h.headers
            try:
                self._proof(self._stated(headers), strong_etag(headers.get("etag")),
                            {"md5": EMPTY_MD5}, unquote(probe))
            except (VerificationError, SuspectETag):
                pass  # (an empty file: nothing to prove; what it taught is kept)
            self._probed = True
        finally:
            self._request("DELETE", probe)
