"""Dataset definition → plan: the files to upload, with sizes, mtimes and safe remote keys.

Scanning follows symbolic links (data is often linked in from elsewhere) but never loops:
a link back to one of its own parent folders is reported and skipped. Sockets, FIFOs and
devices are skipped (reading a FIFO would block forever). A folder keeps its own name in the
dataset, as ``cp -r`` does, so two folders with the same inner names do not collide.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from functools import lru_cache

from datauploader.core.keys import join_safe
from datauploader.core.models import PlannedFile
from datauploader.errors import InputError
from datauploader.names import NameRules


@dataclass
class Plan:
    files: list[PlannedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern:
    """Glob → regex: '*' and '?' stay within a path component, '**' crosses components."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern[i:i + 3] == "**/":
                out.append("(?:.*/)?")
                i += 3
                continue
            if pattern[i:i + 2] == "**":
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def matches(pattern: str, relpath: str, is_dir: bool = False) -> bool:
    """gitignore-like: a pattern without '/' matches the name at any depth; with '/', the
    path; a trailing '/' matches folders only."""
    if pattern.endswith("/"):
        if not is_dir:
            return False
        pattern = pattern.rstrip("/")
    if "/" not in pattern:
        return bool(_compile(pattern).match(relpath.rsplit("/", 1)[-1]))
    return bool(_compile(pattern.lstrip("/")).match(relpath))


class Planner:
    def __init__(self, rules: NameRules, include=(), exclude=()):
        self.rules = rules
        self.include = [p for p in include if p]
        self.exclude = [p for p in exclude if p]

    def _excluded(self, inner: str, full: str, is_dir: bool) -> bool:
        return any(matches(p, inner, is_dir) or matches(p, full, is_dir) for p in self.exclude)

    def _included(self, inner: str, full: str) -> bool:
        if not self.include:
            return True
        return any(matches(p, inner) or matches(p, full) for p in self.include)

    def plan(self, paths, prefix: str) -> Plan:
        plan = Plan()
        if not paths:
            raise InputError("No files or folders given; add at least one.")
        for raw in paths:
            path = os.path.abspath(os.path.expanduser(str(raw)))
            try:
                st = os.stat(path)
            except FileNotFoundError:
                if os.path.islink(path):
                    raise InputError(f"{path} is a link to something that does not exist; "
                                     "fix the link or leave it out.") from None
                raise InputError(f"No such file or folder: {path}. Check the path.") from None
            except PermissionError:
                raise InputError(f"Cannot access {path}: permission denied. Check its "
                                 "permissions.") from None
            name = os.path.basename(path.rstrip(os.sep)) or path
            if stat.S_ISDIR(st.st_mode):
                self._walk(path, name, "", plan, ancestors={(st.st_dev, st.st_ino)})
            elif stat.S_ISREG(st.st_mode):
                self._add(path, name, name, st, plan)
            else:
                raise InputError(f"{path} is not a regular file or folder (it is a device, "
                                 "socket or pipe); leave it out.")
        self._assign_keys(plan, prefix)
        return plan

    def _walk(self, top: str, top_name: str, inner: str, plan: Plan, ancestors: set) -> None:
        folder = os.path.join(top, *inner.split("/")) if inner else top
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except PermissionError:
            plan.warnings.append(f"Skipped folder {folder}: permission denied.")
            return
        except OSError as e:
            plan.warnings.append(f"Skipped folder {folder}: {e.strerror or e}.")
            return
        for entry in entries:
            rel_inner = f"{inner}/{entry.name}" if inner else entry.name
            full = f"{top_name}/{rel_inner}"
            try:
                st = entry.stat(follow_symlinks=True)
            except FileNotFoundError:
                plan.warnings.append(f"Skipped {entry.path}: it is a link to something that "
                                     "does not exist.")
                continue
            except OSError as e:
                plan.warnings.append(f"Skipped {entry.path}: {e.strerror or e}.")
                continue
            if stat.S_ISDIR(st.st_mode):
                if self._excluded(rel_inner, full, True):
                    continue
                ident = (st.st_dev, st.st_ino)
                if ident in ancestors:
                    plan.warnings.append(
                        f"Skipped {entry.path}: it links back to one of its own parent folders "
                        "(a loop).")
                    continue
                self._walk(top, top_name, rel_inner, plan, ancestors | {ident})
            elif stat.S_ISREG(st.st_mode):
                if self._excluded(rel_inner, full, False) or not self._included(rel_inner, full):
                    continue
                self._add(entry.path, full, rel_inner, st, plan)
            else:
                plan.warnings.append(f"Skipped {entry.path}: not a regular file (device, socket "
                                     "or pipe).")

    def _add(self, path: str, relpath: str, inner: str, st, plan: Plan) -> None:
        if not os.access(path, os.R_OK):
            plan.warnings.append(f"{path} is not readable (permission denied); it will fail "
                                 "unless its permissions are fixed before it is uploaded.")
        plan.files.append(PlannedFile(path=path, relpath=relpath, key="", size=st.st_size,
                                      mtime_ns=st.st_mtime_ns))

    def _assign_keys(self, plan: Plan, prefix: str) -> None:
        seen: dict[str, str] = {}
        out = []
        for f in plan.files:
            key = join_safe(prefix, f.relpath, self.rules)
            folded = key.casefold() if self.rules.name == "windows" else key
            if folded in seen:
                raise InputError(
                    f"Two files would land on the same remote name '{key}': {seen[folded]} and "
                    f"{f.path}. Rename one of them or add them as separate datasets.")
            seen[folded] = f.path
            out.append(PlannedFile(f.path, f.relpath, key, f.size, f.mtime_ns))
        plan.files = out
