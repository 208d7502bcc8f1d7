"""Watching folders during acquisition, and the completeness gate a file must pass before it
is queued for upload.

Detection. File-system events (watchdog: inotify, ReadDirectoryChangesW, FSEvents) where they
work; polling where they do not — network shares (SMB/NFS/CIFS…) are polled automatically,
because events miss what other machines write there. Either way an initial scan finds what is
already there, and a periodic full rescan catches anything events missed. Polling looks at
the folders' modification times every ``poll_interval`` and rescans only the folders that
changed, so 100,000 unchanged files cost almost nothing between full rescans.

A watched folder that disappears (a share that drops, a folder removed and recreated) is
reported as unavailable and looked for again at every poll; when it is back it is rescanned
and watched again. It never stops silently.

Completeness gate. A file is queued once: its size and modification time have not changed for
``settle_time`` seconds; no process has it open for writing (psutil; Windows: an exclusive
open); the marker file exists beside it, if the profile asks for one (e.g. ``{name}.done``);
and it does not match the ignore patterns of temporary files (``*.tmp``, ``~*``, ``*.part``).
A file written under a temporary name and renamed into place is a new name that then settles.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass, field

from datauploader.core.openfiles import open_for_writing
from datauploader.core.planner import matches
from datauploader.states import WatchMethod, WatchState

log = logging.getLogger(__name__)

NETWORK_FILESYSTEMS = {
    "nfs", "nfs4", "cifs", "smb", "smbfs", "smb2", "smb3", "ncpfs", "afs", "9p", "sshfs",
    "fuse.sshfs", "davfs", "fuse.davfs2", "fuse.rclone", "ceph", "fuse.ceph", "glusterfs",
    "fuse.glusterfs", "lustre", "gpfs", "beegfs", "panfs", "fuse.gvfsd-fuse", "nfsd",
}


def filesystem_type(path: str) -> str:
    """The type of the filesystem holding ``path`` ('' if unknown)."""
    try:
        import psutil

        real = os.path.realpath(path)
        best, kind = "", ""
        for part in psutil.disk_partitions(all=True):
            mp = part.mountpoint
            if (real == mp or real.startswith(mp.rstrip(os.sep) + os.sep)) and len(mp) > len(best):
                best, kind = mp, part.fstype
        return kind.lower()
    except Exception:  # noqa: BLE001 - unknown means "use events"
        return ""


def is_network_path(path: str) -> bool:
    if os.name == "nt" and path.startswith("\\\\"):
        return True  # UNC path: a share
    return filesystem_type(path) in NETWORK_FILESYSTEMS


@dataclass
class WatchSettings:
    settle_time: float = 10.0
    observer: str = "auto"  # auto | events | polling
    poll_interval: float = 5.0
    rescan_interval: float = 600.0
    ignore: tuple[str, ...] = ("*.tmp", "*.part", "~*", ".~*", "*.swp")
    marker: str = ""  # e.g. "{name}.done"
    check_open: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    tick: float = 0.25  # how often pending files are looked at

    @classmethod
    def from_settings(cls, values: dict, include=(), exclude=()) -> "WatchSettings":
        return cls(settle_time=float(values["settle_time"]),
                   observer=str(values["sync_observer"]),
                   poll_interval=float(values["sync_poll_interval"]),
                   rescan_interval=float(values["sync_rescan_interval"]),
                   ignore=tuple(str(values["sync_ignore"]).split()),
                   marker=str(values["sync_marker"]).strip(),
                   check_open=bool(values["sync_check_open"]),
                   include=tuple(include), exclude=tuple(exclude))


@dataclass(frozen=True)
class Ready:
    """A file that passed the gate."""

    path: str
    relpath: str
    size: int
    mtime_ns: int
    modified: bool  # it had been handed over before with other contents


@dataclass
class _Candidate:
    path: str
    relpath: str
    sig: tuple[int, int]
    changed_at: float
    modified: bool


@dataclass
class _Root:
    path: str
    name: str
    is_dir: bool
    method: WatchMethod
    available: bool = True
    detail: str = ""
    watch: object = None
    dirs: dict = field(default_factory=dict)  # folder → mtime_ns (polling)


class FolderWatcher:
    def __init__(self, roots, settings: WatchSettings, known: dict | None = None,
                 clock=time.monotonic, notify=None):
        self.settings = settings
        self.clock = clock
        self.notify = notify or (lambda text: None)  # root state changes, for the log panel
        #: files handed over: path → (size, mtime_ns); unchanged ones are not looked at again
        self.known: dict[str, tuple[int, int]] = dict(known or {})
        self.candidates: dict[str, _Candidate] = {}
        self.roots: list[_Root] = []
        for raw in roots:
            path = os.path.abspath(os.path.expanduser(str(raw)))
            name = os.path.basename(path.rstrip(os.sep)) or path
            is_dir = not os.path.isfile(path)
            method = WatchMethod.POLLING
            if is_dir and settings.observer == "events":
                method = WatchMethod.EVENTS
            elif is_dir and settings.observer == "auto" and not is_network_path(path):
                method = WatchMethod.EVENTS
            self.roots.append(_Root(path, name, is_dir, method))
        self._dirty: set[str] = set()
        self._dirty_lock = threading.Lock()
        self._wake = threading.Event()
        self._observer = None
        self._last_poll = self._last_rescan = self._last_open_check = -1e18
        self.last_new: tuple[str, float] | None = None  # relpath, wall clock
        self.last_new_mono: float = clock()

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        for root in self.roots:
            self._check_root(root, announce=False)
        if any(r.method is WatchMethod.EVENTS for r in self.roots):
            from watchdog.observers import Observer

            self._observer = Observer()
            self._observer.daemon = True
            for root in self.roots:
                if root.method is WatchMethod.EVENTS and root.available:
                    self._schedule(root)
            self._observer.start()
        self.full_scan()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def _schedule(self, root: _Root) -> None:
        from watchdog.events import FileSystemEventHandler

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                if event.event_type in ("opened", "closed_no_write"):
                    return
                with watcher._dirty_lock:
                    watcher._dirty.add(event.src_path)
                    dest = getattr(event, "dest_path", "")
                    if dest:
                        watcher._dirty.add(dest)
                watcher._wake.set()

        try:
            if root.watch is not None:
                try:
                    self._observer.unschedule(root.watch)
                except Exception:  # noqa: BLE001 - the old watch died with its folder
                    pass
            root.watch = self._observer.schedule(Handler(), root.path, recursive=True)
        except OSError as e:
            # e.g. the inotify watch limit: polling still works, say so
            root.method = WatchMethod.POLLING
            root.detail = f"events unavailable ({e.strerror or e}); polling instead"
            self.notify(f"{root.path}: {root.detail}.")

    # -- the gate, one step at a time ---------------------------------------------------------
    def wait(self, timeout: float, *events: threading.Event) -> None:
        """Sleep until the next tick, or until a file-system event or one of ``events``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self._wake.is_set() or any(e.is_set() for e in events):
                return
            self._wake.wait(min(left, 0.05))

    def tick(self) -> list[Ready]:
        now = self.clock()
        self._wake.clear()
        for root in self.roots:
            self._check_root(root)
        with self._dirty_lock:
            dirty, self._dirty = self._dirty, set()
        for path in dirty:
            self._look_at(path)
        if now - self._last_rescan >= self.settings.rescan_interval:
            self.full_scan()
        elif now - self._last_poll >= self.settings.poll_interval:
            self._poll_dirs()
        return self._gate(now)

    def full_scan(self) -> None:
        self._last_rescan = self._last_poll = self.clock()
        for root in self.roots:
            if root.available:
                self._scan_root(root)

    @property
    def pending(self) -> int:
        return len(self.candidates)

    @property
    def seen(self) -> int:
        return len(self.known) + len(self.candidates)

    def forget(self, path: str) -> None:
        """A handed-over file turned out to be still changing: gate it again."""
        self.known.pop(path, None)
        self._look_at(path)

    # -- roots ------------------------------------------------------------------------------
    def _check_root(self, root: _Root, announce: bool = True) -> None:
        try:
            st = os.stat(root.path)
            ok = stat.S_ISDIR(st.st_mode) if root.is_dir else stat.S_ISREG(st.st_mode)
            why = "" if ok else "it is not a folder any more"
        except OSError as e:
            ok, why = False, (e.strerror or str(e))
        if ok and not root.available:
            root.available, root.detail = True, ""
            self.notify(f"{root.path} is available again; looking for new files.")
            if root.method is WatchMethod.EVENTS and self._observer is not None:
                self._schedule(root)
            root.dirs.clear()
            self._scan_root(root)
        elif not ok and root.available:
            root.available, root.detail = False, why
            if announce:
                self.notify(f"{root.path} is not available ({why}); it is looked for again "
                            f"every {self.settings.poll_interval:g} s. Nothing is lost.")

    def _root_of(self, path: str) -> _Root | None:
        for root in self.roots:
            if path == root.path or path.startswith(root.path.rstrip(os.sep) + os.sep):
                return root
        return None

    def _relpath(self, root: _Root, path: str) -> tuple[str, str]:
        """(relpath in the dataset, path inside the root) as the planner names them."""
        if not root.is_dir:
            return root.name, root.name
        inner = os.path.relpath(path, root.path).replace(os.sep, "/")
        return f"{root.name}/{inner}", inner

    # -- scanning ---------------------------------------------------------------------------
    def _scan_root(self, root: _Root) -> None:
        if not root.is_dir:
            self._look_at(root.path)
            return
        self._scan_dir(root, root.path, recursive=True, seen_dirs=set())

    def _scan_dir(self, root: _Root, folder: str, recursive: bool, seen_dirs: set) -> None:
        try:
            dst = os.stat(folder)
            if (dst.st_dev, dst.st_ino) in seen_dirs:
                return  # a link back to a parent: a loop
            seen_dirs.add((dst.st_dev, dst.st_ino))
            root.dirs[folder] = dst.st_mtime_ns
            entries = list(os.scandir(folder))
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTDIR):
                log.debug("cannot scan %s: %s", folder, e)
            return
        present = set()
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                _, inner = self._relpath(root, entry.path)
                if any(matches(p, inner, True) for p in self.settings.exclude):
                    continue
                if recursive or entry.path not in root.dirs:
                    self._scan_dir(root, entry.path, True, seen_dirs)
            elif stat.S_ISREG(st.st_mode):
                present.add(entry.path)
                self._observe(root, entry.path, st)
        # candidates that vanished (deleted or renamed before they were complete)
        prefix = folder.rstrip(os.sep) + os.sep
        for path in [p for p in self.candidates if p.startswith(prefix)
                     and os.sep not in p[len(prefix):] and p not in present]:
            del self.candidates[path]

    def _poll_dirs(self) -> None:
        self._last_poll = self.clock()
        for root in self.roots:
            if not root.available or root.method is not WatchMethod.POLLING or not root.is_dir:
                continue
            for folder, mtime in list(root.dirs.items()):
                try:
                    now = os.stat(folder).st_mtime_ns
                except OSError:
                    root.dirs.pop(folder, None)
                    continue
                if now != mtime:
                    self._scan_dir(root, folder, recursive=False, seen_dirs=set())

    def _look_at(self, path: str) -> None:
        root = self._root_of(path)
        if root is None:
            return
        try:
            st = os.stat(path)
        except OSError:
            self.candidates.pop(path, None)
            return
        if stat.S_ISDIR(st.st_mode):
            if root.is_dir:
                self._scan_dir(root, path, True, set())
        elif stat.S_ISREG(st.st_mode):
            self._observe(root, path, st)

    def _ignored(self, root: _Root, path: str) -> tuple[bool, str, str]:
        relpath, inner = self._relpath(root, path)
        name = os.path.basename(path)
        s = self.settings
        if any(fnmatch.fnmatchcase(name, p) for p in s.ignore):
            return True, relpath, inner
        if s.marker and self._is_marker(name):
            return True, relpath, inner
        if any(matches(p, inner) or matches(p, relpath) for p in s.exclude):
            return True, relpath, inner
        if s.include and not any(matches(p, inner) or matches(p, relpath) for p in s.include):
            return True, relpath, inner
        return False, relpath, inner

    def _is_marker(self, name: str) -> bool:
        head, placeholder, tail = self.settings.marker.partition("{name}")
        return bool(placeholder) and name.startswith(head) and name.endswith(tail) and \
            len(name) > len(head) + len(tail)

    def _observe(self, root: _Root, path: str, st) -> None:
        ignored, relpath, _ = self._ignored(root, path)
        if ignored:
            return
        sig = (st.st_size, st.st_mtime_ns)
        known = self.known.get(path)
        if known == sig:
            return
        c = self.candidates.get(path)
        now = self.clock()
        if c is None:
            # Found by a poll, a file may have been still for a while already: its mtime says
            # how long, credited up to one poll interval (so that a share whose clock runs
            # behind can shorten the settle time by no more than that).
            age = max(0.0, time.time() - st.st_mtime)
            changed_at = now - min(age, self.settings.poll_interval)
            self.candidates[path] = _Candidate(path, relpath, sig, changed_at, known is not None)
            if known is None:
                self.last_new = (relpath, time.time())
                self.last_new_mono = now
        elif c.sig != sig:
            c.sig, c.changed_at = sig, now

    def _gate(self, now: float) -> list[Ready]:
        settled = []
        for path, c in list(self.candidates.items()):
            try:
                st = os.stat(path)
            except OSError:
                del self.candidates[path]  # gone before it was complete
                continue
            sig = (st.st_size, st.st_mtime_ns)
            if sig != c.sig:
                c.sig, c.changed_at = sig, now
                continue
            if now - c.changed_at < self.settings.settle_time:
                continue
            if self.settings.marker:
                head, _, tail = self.settings.marker.partition("{name}")
                folder, name = os.path.split(path)
                if not os.path.exists(os.path.join(folder, f"{head}{name}{tail}")):
                    continue
            settled.append(c)
        if settled and self.settings.check_open:
            if now - self._last_open_check < 0.5:
                return []  # asking every process is not free: at most twice a second
            self._last_open_check = now
            busy = open_for_writing([c.path for c in settled])
            settled = [c for c in settled if c.path not in busy]
        ready = []
        for c in settled:
            del self.candidates[c.path]
            self.known[c.path] = c.sig
            ready.append(Ready(c.path, c.relpath, c.sig[0], c.sig[1], c.modified))
        return ready

    def status(self) -> list[tuple[str, WatchState, WatchMethod, str]]:
        return [(r.path, WatchState.WATCHING if r.available else WatchState.UNAVAILABLE,
                 r.method, r.detail)
                for r in self.roots]
