"""The application layer: configuration, settings, secrets, paths, and the service that
composes them with the engine, the storage backends and the catalogue clients. The front-ends
(``cli``, ``gui``) reach everything below through ``app.service``."""
