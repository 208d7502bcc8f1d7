"""Dataset definition → plan: the files to upload, with sizes, mtimes and safe remote keys.

* **Links.** A symbolic link inside the selected folders is followed only as the link policy
  says (``links`` setting): by default only when it points inside the selection, so a link to
  ``/etc`` in a data folder never puts system files into a dataset. Every link met is in the
  plan (``links``) with what was done and why, for the dry run and the preview; a link back to
  one of its own parent folders is never followed (a loop).
* **Nothing left out silently.** A folder that cannot be read, a file that vanished between
  the listing and its stat, a path too long for the OS: each is an ``Unplanned`` entry of the
  plan, which becomes a failed task of the job (the dataset stays incomplete; resume scans it
  again; the operator may leave it out explicitly).
* Sockets, FIFOs and devices are skipped with a warning (reading a FIFO would block forever).
  A folder keeps its own name in the dataset, as ``cp -r`` does, so two folders with the same
  inner names do not collide. The walk is iterative: a 10,000-deep tree is no problem.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from functools import lru_cache

from datauploader.core.keys import join_safe
from datauploader.core.models import LinkPolicy, PlannedFile
from datauploader.errors import InputError
from datauploader.names import NameRules


@dataclass(frozen=True)
class LinkDecision:
    """A symbolic link met while scanning, and what was done with it."""

    path: str  # the link
    target: str  # where it resolves to (or what it says, if that does not exist)
    followed: bool
    why: str  # e.g. "points outside the selected folders"


@dataclass(frozen=True)
class Unplanned:
    """Something that should be in the dataset but could not be planned."""

    path: str  # absolute local path
    relpath: str  # its name in the dataset
    kind: str  # "file" | "folder"
    reason: str  # one sentence: what happened and what to do


@dataclass
class Plan:
    files: list[PlannedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    links: list[LinkDecision] = field(default_factory=list)
    unplanned: list[Unplanned] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def links_not_followed(self) -> list[LinkDecision]:
        return [d for d in self.links if not d.followed]


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


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _reason(path: str, e: OSError, what: str) -> str:
    if isinstance(e, PermissionError):
        return (f"The {what} {path} cannot be read: permission denied. Fix its permissions, "
                "then resume the job (or leave it out).")
    if isinstance(e, FileNotFoundError):
        return (f"The {what} {path} vanished while the selection was scanned. Put it back, then "
                "resume the job (or leave it out).")
    if e.errno == errno.ENAMETOOLONG:
        return (f"The path of the {what} {path[:80]}… is longer than the operating system "
                "allows; move or rename it, then resume the job (or leave it out).")
    return (f"The {what} {path} cannot be read: {e.strerror or e}. Fix it, then resume the job "
            "(or leave it out).")


class Planner:
    def __init__(self, rules: NameRules, include=(), exclude=(),
                 links: LinkPolicy | str = LinkPolicy.INSIDE):
        self.rules = rules
        self.include = [p for p in include if p]
        self.exclude = [p for p in exclude if p]
        self.links = LinkPolicy(links)
        self._roots: list[str] = []  # the selection, resolved: what "inside" means

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
        tops = []
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
            except OSError as e:
                raise InputError(_reason(path, e, "path")) from None
            tops.append((path, st))
        self._roots = [os.path.realpath(p) for p, _ in tops]
        for path, st in tops:
            name = os.path.basename(path.rstrip(os.sep)) or path
            if stat.S_ISDIR(st.st_mode):
                self._walk(path, name, plan, (st.st_dev, st.st_ino))
            elif stat.S_ISREG(st.st_mode):
                self._add(path, name, name, st, plan)
            else:
                raise InputError(f"{path} is not a regular file or folder (it is a device, "
                                 "socket or pipe); leave it out.")
        self._assign_keys(plan, prefix)
        return plan

    def replan(self, path: str, relpath: str, kind: str, prefix: str, roots) -> Plan:
        """Scan again what could not be planned before (resume): a folder (files under it
        named ``relpath/…``) or one file, with ``roots`` the job's selection."""
        plan = Plan()
        self._roots = [os.path.realpath(r) for r in roots]
        top_name, _, inner = relpath.partition("/")
        top = path[:len(path) - len(inner)].rstrip(os.sep) if inner else path
        try:
            st = os.stat(path)
        except OSError as e:
            plan.unplanned.append(Unplanned(path, relpath, kind, _reason(path, e, kind)))
            return plan
        if stat.S_ISDIR(st.st_mode):
            self._walk(top, top_name, plan, (st.st_dev, st.st_ino), start=inner)
        elif stat.S_ISREG(st.st_mode):
            self._add(path, relpath, inner or relpath, st, plan)
        self._assign_keys(plan, prefix)
        return plan

    def _link(self, entry, plan: Plan) -> bool:
        """Whether to follow the link ``entry``; every decision is recorded in the plan."""
        target = os.path.realpath(entry.path)
        if not os.path.exists(target):
            plan.links.append(LinkDecision(entry.path, os.readlink(entry.path), False,
                                           "points to something that does not exist"))
            return False
        if self.links is LinkPolicy.SKIP:
            plan.links.append(LinkDecision(entry.path, target, False,
                                           "links are not followed (links = skip)"))
            return False
        if self.links is LinkPolicy.INSIDE and not any(_under(target, r) for r in self._roots):
            plan.links.append(LinkDecision(
                entry.path, target, False, "points outside the selected folders (links = "
                "inside; add the target to the selection, or set links = follow)"))
            return False
        plan.links.append(LinkDecision(entry.path, target, True,
                                       "inside the selection" if self.links is LinkPolicy.INSIDE
                                       else "links = follow"))
        return True

    def _walk(self, top: str, top_name: str, plan: Plan, ident, start: str = "") -> None:
        """Depth-first in name order (a folder's contents where its name sorts), with an
        explicit stack of open listings instead of recursion (no depth limit)."""
        stack = []

        def enter(inner: str, ancestors: frozenset) -> None:
            folder = os.path.join(top, *inner.split("/")) if inner else top
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as e:
                plan.unplanned.append(Unplanned(folder, f"{top_name}/{inner}" if inner else
                                                top_name, "folder", _reason(folder, e, "folder")))
                return
            stack.append((inner, ancestors, iter(entries)))

        enter(start, frozenset({ident}))
        while stack:
            inner, ancestors, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                continue
            rel_inner = f"{inner}/{entry.name}" if inner else entry.name
            full = f"{top_name}/{rel_inner}"
            try:
                if entry.is_symlink() and not self._link(entry, plan):
                    continue
                st = entry.stat(follow_symlinks=True)
            except OSError as e:
                plan.unplanned.append(Unplanned(entry.path, full, "file",
                                                _reason(entry.path, e, "file")))
                continue
            if stat.S_ISDIR(st.st_mode):
                if self._excluded(rel_inner, full, True):
                    continue
                dev_ino = (st.st_dev, st.st_ino)
                if dev_ino in ancestors:
                    plan.warnings.append(f"Skipped {entry.path}: it links back to one of its own "
                                         "parent folders (a loop).")
                    continue
                enter(rel_inner, ancestors | {dev_ino})
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
