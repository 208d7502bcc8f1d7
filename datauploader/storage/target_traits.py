"""What a storage target was found to do (does it honour conditional writes, does it check
Content-MD5 …), learnt once with a probe of our own and kept in the state folder, so that it is
asked once a day per target, not once per job.

One small JSON file for all targets, keyed by the target's description; written whole to a
temporary file and renamed, so that two processes never leave half a file (the last one's
findings win, which are the same findings). Without a state folder (a backend built in a test)
findings live as long as the process.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time

log = logging.getLogger(__name__)

FILE_NAME = "storage-traits.json"
MAX_AGE = 24 * 3600.0  # a server may be upgraded or reconfigured: ask again after a day

_memory: dict[str, dict] = {}  # findings of targets without a state folder
_lock = threading.Lock()


class TraitCache:
    def __init__(self, state_dir: str | None, max_age: float = MAX_AGE):
        self.path = os.path.join(state_dir, FILE_NAME) if state_dir else None
        self.max_age = max_age

    def _load(self) -> dict[str, dict]:
        if self.path is None:
            return _memory
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, target: str) -> dict | None:
        """The findings for ``target`` if they are fresh enough, else None."""
        with _lock:
            found = self._load().get(target)
        if not isinstance(found, dict) or time.time() - found.get("learnt", 0) > self.max_age:
            return None
        return found

    def put(self, target: str, traits: dict) -> None:
        entry = {**traits, "learnt": time.time()}
        with _lock:
            if self.path is None:
                _memory[target] = entry
                return
            data = self._load()
            data[target] = entry
            folder = os.path.dirname(self.path)
            try:
                os.makedirs(folder, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".traits-", dir=folder)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f, indent=1, sort_keys=True)
                os.replace(tmp, self.path)
            except OSError:  # not kept: the probe runs again next time
                log.warning("could not keep what %s was found to do in %s", target, self.path,
                            exc_info=True)
