"""WebDAV storage: ``backend`` (WebDAVStorage: upload to a temporary name, prove, move into
place), ``protocol`` (paths, PROPFIND and its XML, the checksum headers servers send) and
``proof`` (what proves a stored file: an MD5 ETag, a checksum the server states, a re-read)."""
