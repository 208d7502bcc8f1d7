"""Network clients shared by storage backends and catalogue clients (which never import each
other): ``http``, the lean HTTP/1.1 client of the S3, WebDAV and rclone backends; ``tls``, the
one TLS context builder and wording of handshake failures for all of them; ``webclient``, the
requests-based client of the catalogues and IDS; ``icat``, the ICAT session."""
