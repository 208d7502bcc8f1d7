"""Reading a file fast for sending (WebDAV, SFTP): in chunks, while helper threads hash it.

A large file is read once, in 1 MiB chunks, into two buffers; each chunk is sent while helper
threads hash it (hashlib lets go of the GIL, so hashing runs on another core while the sending
thread works): the job's checksum (and cheap extras such as adler32) on one thread, a second
cryptographic hash (an MD5 for a server's ETag, a server checksum command's algorithm) on
another. A buffer is refilled only once its hashes are done, and each hash sees the chunks in
order. (The HTTP connections that used to live here are in :mod:`datauploader.net.http`.)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from datauploader.errors import FileChangedError

CHUNK = 1 << 20
DEPTH = 2  # buffers: chunks being read, hashed or sent at once (4 and 8 measured slower)
_CRYPTO = ("md5", "sha1", "sha256")


def hashed_chunks(src, extras: dict, ctx, size: int, chunk: int = CHUNK):
    """Yield the next ``size`` bytes of ``src`` (a SourceReader) as memoryviews of at most
    ``chunk`` bytes, hashed on helper threads meanwhile (the reader's own checksum, and the
    hashers in ``extras`` {algorithm: hasher}); ``ctx.sent(n)`` before each chunk is yielded.
    A view stays valid until the generator is resumed ``DEPTH`` times. Raises FileChangedError
    if the file ends early."""
    heavy = [h for a, h in extras.items() if a in _CRYPTO]
    light = [h for a, h in extras.items() if a not in _CRYPTO]

    def own(view):
        src.skip_hash(view)
        for h in light:
            h.update(view)

    def other(view):
        for h in heavy:
            h.update(view)

    lanes = [(ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash"), own)]
    if heavy:
        lanes.append((ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash"), other))
    bufs = tuple(bytearray(min(chunk, size)) for _ in range(DEPTH))
    pending: list = [()] * DEPTH
    done = i = 0
    try:
        while done < size:
            slot = i % DEPTH
            for f in pending[slot]:
                f.result()
            view = memoryview(bufs[slot])[:min(chunk, size - done)]
            n = src.readinto(view, hash_it=False)
            if not n:
                raise FileChangedError(f"{src.path} shrank while it was read; it is probably "
                                       "still being written. Resume the job once it is "
                                       "complete.")
            piece = view[:n]
            pending[slot] = [pool.submit(fn, piece) for pool, fn in lanes]
            ctx.sent(n)
            yield piece
            done += n
            i += 1
    finally:
        for futures in pending:
            for f in futures:
                f.result()
        for pool, _ in lanes:
            pool.shutdown()
