"""SFTP storage (paramiko): one SSH connection per worker thread, resumable, never overwriting.

The modules, from the bottom up:

* ``paramiko_import``: paramiko, imported without invoke (30 ms of every start).
* ``hostkeys``: known_hosts files and the host-key errors. A host key is checked before any
  credential is offered: an unknown key is a question for the user, a changed key a loud error.
* ``wire``: the SFTP requests of the upload path written straight to the channel, several in
  one SSH packet, and a pipelined reader for reading files back.
* ``transport``: the SSH connection (socket, ciphers, host-key check), the log-in (key, agent,
  password), the per-thread connections, and paramiko's exceptions turned into ours.
* ``checksums``: which checksum command the server runs for a file, and running it.
* ``backend``: ``SFTPStorage``: temporary names, resume, verification, the rename into place.

Secrets (password, key passphrase) come from the OS keyring or the environment
(``DATAUPLOADER_SFTP_PASSWORD``, ``DATAUPLOADER_SFTP_PASSPHRASE``), never from a file; the
private key's *path* may be configured.

Nothing is imported here, so that ``hostkeys`` can be used without loading paramiko.
"""
