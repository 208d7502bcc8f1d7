"""Settings, declared once: name, type, default and a one-line description.

The configuration loader validates against these, ``datauploader config show`` prints them,
and the GUI's settings dialog is generated from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from datauploader import units
from datauploader.checksums import ALGORITHMS
from datauploader.core.throttle import Timetable


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # int | float | choice | str | bandwidth | bool
    default: object
    description: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    group: str = "Transfers"

    def parse(self, text: str):
        """Text from a file or a form → value; raises ValueError with a plain reason."""
        t = text.strip()
        if self.kind == "int":
            try:
                v = int(t)
            except ValueError:
                raise ValueError(f"'{t}' is not a whole number") from None
            return self._bounded(v)
        if self.kind == "float":
            try:
                v = float(t)
            except ValueError:
                raise ValueError(f"'{t}' is not a number") from None
            return self._bounded(v)
        if self.kind == "choice":
            if t.lower() not in self.choices:
                raise ValueError(f"'{t}' is not one of: {', '.join(self.choices)}")
            return t.lower()
        if self.kind == "bool":
            return units.parse_bool(t)
        if self.kind == "bandwidth":
            Timetable.parse(t)  # raises ValueError with a plain reason
            return t
        return t

    def _bounded(self, v):
        if self.minimum is not None and v < self.minimum:
            raise ValueError(f"{v} is below the minimum {self.minimum:g}")
        if self.maximum is not None and v > self.maximum:
            raise ValueError(f"{v} is above the maximum {self.maximum:g}")
        return v

    def format(self, value) -> str:
        if self.kind == "bool":
            return "yes" if value else "no"
        return str(value)


SETTINGS: tuple[Setting, ...] = (
    Setting("workers", "int", 8, "files uploaded at the same time", minimum=1, maximum=64),
    Setting("checksum", "choice", "sha256", "checksum computed while each file is read",
            choices=ALGORITHMS),
    Setting("bandwidth_limit", "bandwidth", "off",
            "upload limit in bytes/s (e.g. 10M), or a timetable such as "
            "'08:00,10M 20:00,off' (limited during acquisition hours)"),
    Setting("retries", "int", 5, "tries per request when the network or server fails",
            minimum=1, maximum=100),
    Setting("retry_max_delay", "float", 60.0, "longest wait between two tries, in seconds",
            minimum=0.1, maximum=3600),
    Setting("stall_notice", "float", 30.0,
            "seconds without any progress of a transfer before the operator is told that the "
            "server is not answering (and again when it answers)", minimum=1, maximum=3600),
    Setting("links", "choice", "inside",
            "symbolic links in the selected folders: follow those that point inside the "
            "selection (inside), every one (follow), or none (skip); links not followed are "
            "reported", choices=("inside", "follow", "skip")),
    Setting("register_batch", "int", 500, "datafiles registered per catalogue request",
            minimum=1, maximum=10000, group="Catalogue"),
    Setting("parsers", "str", "",
            "metadata parsers run on the files before upload, space-separated codes (hdf5, "
            "tiff, csv, tsv, json, yaml, or a plug-in's); --parser overrides",
            group="Catalogue"),
    Setting("metadata_mapping", "str", "",
            "YAML or JSON file mapping parser keys to the catalogue's names (empty: keys as "
            "the parsers give them)", group="Catalogue"),
    Setting("log_level", "choice", "info", "detail of the log file",
            choices=("debug", "info", "warning", "error"), group="General"),
    Setting("settle_time", "float", 10.0,
            "sync mode: seconds a file's size and time must stay unchanged before upload",
            minimum=0.0, maximum=3600, group="Sync mode"),
    Setting("sync_observer", "choice", "auto",
            "sync mode: how new files are noticed: file-system events, polling (network "
            "shares), or auto (polling on SMB/NFS/CIFS mounts)",
            choices=("auto", "events", "polling"), group="Sync mode"),
    Setting("sync_poll_interval", "float", 5.0,
            "sync mode: seconds between looks at the folders when polling (and retries of a "
            "folder that went away)", minimum=0.5, maximum=3600, group="Sync mode"),
    Setting("sync_rescan_interval", "float", 600.0,
            "sync mode: seconds between full rescans that catch anything events missed",
            minimum=10, maximum=86400, group="Sync mode"),
    Setting("sync_ignore", "str", "*.tmp *.part ~* .~* *.swp",
            "sync mode: temporary files never uploaded (glob patterns, space-separated)",
            group="Sync mode"),
    Setting("sync_marker", "str", "",
            "sync mode: a file counts as complete only once this marker exists beside it, "
            "e.g. {name}.done (empty: no marker)", group="Sync mode"),
    Setting("sync_check_open", "bool", True,
            "sync mode: wait until no process has the file open for writing",
            group="Sync mode"),
    Setting("sync_on_modified", "choice", "version",
            "sync mode: a file changed after its upload is uploaded again as a new version "
            "beside the old one (version), or reported and left alone (skip)",
            choices=("version", "skip"), group="Sync mode"),
    Setting("sync_idle_warning", "float", 1800.0,
            "sync mode: warn when no new file has arrived for this many seconds (0: never)",
            minimum=0, maximum=86400 * 7, group="Sync mode"),
)

BY_NAME = {s.name: s for s in SETTINGS}


def defaults() -> dict[str, object]:
    return {s.name: s.default for s in SETTINGS}
