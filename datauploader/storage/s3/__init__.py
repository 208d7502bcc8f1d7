"""S3 storage: ``backend`` (S3Storage: single PUT or multipart, resumable, never overwriting),
``client`` (the S3 client over kept-alive connections) with ``multipart`` (its multipart
operations), ``messages`` (metadata, ETags, XML answers), ``errors`` (what the server's
refusals mean), ``sigv4`` (request signing) and ``credentials`` (keyring, environment, AWS
profiles)."""
