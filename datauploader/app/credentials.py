"""Secrets: only in the OS keyring or the environment, never in files, logs or the journal.

One keyring service name per endpoint (``datauploader:<kind>:<endpoint>``), the user or access
key as the keyring's user name. Where no secure keyring exists, ``get`` returns None and the
front-end asks (GUI) or reads the environment / ``--password-stdin`` (CLI); nothing is ever
written to a plaintext file behind the user's back.
"""

from __future__ import annotations

import logging
import sys
from typing import Mapping

from datauploader.errors import UserFacingError

log = logging.getLogger(__name__)


def _skip_macos_api() -> None:
    """keyring imports its macOS backend's ctypes bindings on every system; off macOS their
    ``find_library`` calls run ldconfig, gcc and ld (about 0.2 s per process). The backend
    catches the failed import and reports itself unusable, as it would anyway off macOS."""
    if sys.platform != "darwin":
        sys.modules.setdefault("keyring.backends.macOS.api", None)


class SecretStore:
    def __init__(self, env: Mapping[str, str] | None = None, use_keyring: bool = True):
        self.env = env or {}
        self.use_keyring = use_keyring
        self._keyring = None

    def _backend(self):
        if not self.use_keyring:
            return None
        if self._keyring is None:
            _skip_macos_api()
            try:
                import keyring
                import keyring.core
                from keyring.backends import fail

                chosen = self.env.get("PYTHON_KEYRING_BACKEND")
                backend = keyring.core.load_keyring(chosen) if chosen else keyring.get_keyring()
                if isinstance(backend, fail.Keyring):
                    log.info("no OS keyring available (%s)", backend)
                    self._keyring = False
                else:
                    self._keyring = backend
            except Exception as e:  # noqa: BLE001 - a broken keyring must not stop uploads
                log.warning("the OS keyring cannot be used: %s", e)
                self._keyring = False
        return self._keyring or None

    @property
    def backend_name(self) -> str:
        b = self._backend()
        if b is None:
            return "none"
        return f"{type(b).__module__}.{type(b).__name__}"

    def get(self, service: str, user: str) -> str | None:
        backend = self._backend()
        if backend is None:
            return None
        try:
            return backend.get_password(service, user)
        except Exception as e:  # noqa: BLE001 - locked keyring, D-Bus errors
            log.warning("reading the OS keyring failed: %s", e)
            return None

    def set(self, service: str, user: str, secret: str) -> None:
        backend = self._backend()
        if backend is None:
            raise UserFacingError(
                "There is no OS keyring on this computer to remember the secret; pass it in the "
                "environment instead (or install and unlock a keyring such as GNOME Keyring).")
        try:
            backend.set_password(service, user, secret)
        except Exception as e:  # noqa: BLE001
            raise UserFacingError(f"The OS keyring refused to store the secret ({e}); it is "
                                  "probably locked. Unlock it and try again.") from e

    def delete(self, service: str, user: str) -> bool:
        backend = self._backend()
        if backend is None:
            return False
        try:
            backend.delete_password(service, user)
            return True
        except Exception:  # noqa: BLE001 - not there
            return False
