"""What a storage target accepts as a name: one set of rules per kind of target.

Shared by the planner (which makes every remote key valid before anything moves) and the
storage backends (which declare the rules of their target)."""

from __future__ import annotations

import re

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}
_WINDOWS_BAD = re.compile(r'[<>:"|?*\\\x00-\x1f]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class NameRules:
    """What a target accepts as a path component. Subclasses: posix, windows, s3."""

    name = "posix"
    max_component_bytes = 255
    max_key_bytes = 4096

    def fix_component(self, part: str) -> str:
        """Return a valid version of ``part`` (invalid characters replaced by '_')."""
        return part.replace("\x00", "_")


class PosixNames(NameRules):
    pass


class WindowsNames(NameRules):
    name = "windows"
    max_key_bytes = 32767

    def fix_component(self, part: str) -> str:
        fixed = _WINDOWS_BAD.sub("_", part)
        if fixed.rstrip(" .") != fixed:  # Windows drops trailing dots and spaces silently
            fixed = fixed.rstrip(" .") + "_"
        if fixed.split(".")[0].lower() in _WINDOWS_RESERVED:
            fixed = "_" + fixed
        return fixed


class S3Names(NameRules):
    name = "s3"
    max_component_bytes = 1024
    max_key_bytes = 1024

    def fix_component(self, part: str) -> str:
        # S3 accepts any UTF-8, but control characters break XML listings and most tools
        return _CONTROL.sub("_", part)


RULES = {"posix": PosixNames(), "windows": WindowsNames(), "portable": WindowsNames(),
         "s3": S3Names()}
