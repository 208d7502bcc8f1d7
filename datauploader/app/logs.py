"""The log file: rotating, in the user's log folder; never a secret in it (the command line's
secret values are masked before they are logged)."""

from __future__ import annotations

import logging
import logging.handlers
import os

from datauploader.app.paths import Paths


def configure_logging(paths: Paths, level: str = "info", debug: bool = False) -> str:
    """Log to a rotating file (never secrets); returns its path."""
    os.makedirs(paths.log_dir, exist_ok=True)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_datauploader", False):
            root.removeHandler(h)
    handler = logging.handlers.RotatingFileHandler(paths.log_file, maxBytes=5 << 20,
                                                   backupCount=5, encoding="utf-8")
    handler._datauploader = True
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else getattr(logging, level.upper(), logging.INFO))
    for noisy in ("botocore", "urllib3", "boto3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return paths.log_file
