"""Where things live. Read nothing at import time.

Every directory comes from platformdirs, or from one override: ``DATAUPLOADER_HOME`` puts
config/, data/, state/ and logs/ under one folder (every test uses it). The system-wide
configuration that an installer or admin deploys has its own override,
``DATAUPLOADER_SYSTEM_CONFIG``; an installed (frozen) build also reads a ``site.ini`` shipped
next to its executable when there is no machine-wide file (see ``system_config``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Mapping

APP = "datauploader"
CONFIG_NAME = "datauploader.ini"


@dataclass(frozen=True)
class Paths:
    config_dir: str
    data_dir: str
    state_dir: str
    log_dir: str
    system_config: str

    @property
    def user_config(self) -> str:
        return os.path.join(self.config_dir, CONFIG_NAME)

    @property
    def journal(self) -> str:
        return os.path.join(self.state_dir, "journal.sqlite")

    @property
    def locks(self) -> str:
        return os.path.join(self.state_dir, "locks")

    @property
    def log_file(self) -> str:
        return os.path.join(self.log_dir, "datauploader.log")

    @property
    def default_storage(self) -> str:
        return os.path.join(self.data_dir, "storage")

    @property
    def default_catalogue(self) -> str:
        return os.path.join(self.data_dir, "catalogue.sqlite")


def default_system_config() -> str:
    if sys.platform == "win32":
        base = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
        return os.path.join(base, "DataUploader", CONFIG_NAME)
    if sys.platform == "darwin":
        return "/Library/Application Support/DataUploader/" + CONFIG_NAME
    return "/etc/datauploader/" + CONFIG_NAME


def bundled_site_config() -> str | None:
    """Installed builds only (PyInstaller sets ``sys.frozen``): a site configuration shipped
    next to the executable, ``<install dir>/site.ini``. The Linux tarball's per-user
    ``install.sh --site-config FILE`` puts it there, as the user cannot write to /etc."""
    if not getattr(sys, "frozen", False):
        return None
    return os.path.join(os.path.dirname(os.path.realpath(sys.executable)), "site.ini")


def system_config(env: Mapping[str, str]) -> str:
    """The system-wide file: ``DATAUPLOADER_SYSTEM_CONFIG``, else the machine-wide file if it
    exists (an admin's word wins), else a bundled ``site.ini`` if it exists, else the
    machine-wide path (read if it appears later)."""
    explicit = env.get("DATAUPLOADER_SYSTEM_CONFIG")
    if explicit:
        return explicit
    machine = default_system_config()
    if os.path.isfile(machine):
        return machine
    bundled = bundled_site_config()
    return bundled if bundled and os.path.isfile(bundled) else machine


def resolve(env: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if env is None else env
    system = system_config(env)
    home = env.get("DATAUPLOADER_HOME")
    if home:
        home = os.path.abspath(os.path.expanduser(home))
        return Paths(os.path.join(home, "config"), os.path.join(home, "data"),
                     os.path.join(home, "state"), os.path.join(home, "logs"), system)
    import platformdirs

    return Paths(platformdirs.user_config_dir(APP, appauthor=False),
                 platformdirs.user_data_dir(APP, appauthor=False),
                 platformdirs.user_state_dir(APP, appauthor=False),
                 platformdirs.user_log_dir(APP, appauthor=False), system)
