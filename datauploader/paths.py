"""Where things live. Read nothing at import time.

Every directory comes from platformdirs, or from one override: ``DATAUPLOADER_HOME`` puts
config/, data/, state/ and logs/ under one folder (every test uses it). The system-wide
configuration that an installer or admin deploys has its own override,
``DATAUPLOADER_SYSTEM_CONFIG``.
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


def resolve(env: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if env is None else env
    system = env.get("DATAUPLOADER_SYSTEM_CONFIG") or default_system_config()
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
