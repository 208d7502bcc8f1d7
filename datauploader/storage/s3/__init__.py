"""S3 storage: ``backend`` (S3Storage: single PUT, verification, adoption of existing keys)
with ``multipart_upload`` (large files in parts, resumable), ``client`` (the S3 client over
kept-alive connections) with ``multipart`` (its multipart operations), ``messages`` (metadata,
ETags, XML answers), ``errors`` (what the server's refusals mean), ``probe`` (what the server
really checks, learnt once per target), ``claims`` (one computer at a time writes a dataset),
``pending`` (multipart uploads not yet journaled), ``sigv4`` (request signing) and
``credentials`` (keyring, environment, AWS profiles)."""
