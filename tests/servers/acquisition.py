"""A simulated acquisition process, for sync-mode tests: writes files the way instrument
software does (slowly, in bursts, held open, under a temporary name then renamed), following a
JSON script, and logs when each file was really complete.

    python -m tests.servers.acquisition SCRIPT.json LOG.jsonl

Script: a list of steps, run in order:
    {"write": "a.raw", "chunks": 5, "size": 4096, "every": 0.2, "hold": 0}
        open, write `chunks` × `size` random bytes `every` seconds apart, keep the file open
        `hold` seconds after the last write, close
    {"append": "a.raw", "size": 100}        append to an existing file (open, write, close)
    {"rename": "a.tmp", "to": "a.raw"}      rename into place
    {"mkdir": "sub"}  {"rmtree": "sub"}  {"sleep": 1.5}
    {"parallel": [[steps…], [steps…]]}      run several sequences at once (threads)
Paths are relative to the folder given by the script's "root". Each completed write, append
and rename is logged as {"event": ..., "path": ..., "time": <epoch seconds>}.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time

_lock = threading.Lock()


def _log(log, event: str, path: str, **extra) -> None:
    with _lock:
        log.write(json.dumps({"event": event, "path": path, "time": time.time(), **extra}) + "\n")
        log.flush()


def run(steps, root: str, log) -> None:
    for step in steps:
        if "write" in step:
            path = os.path.join(root, step["write"])
            with open(path, "wb") as f:
                for i in range(step.get("chunks", 1)):
                    if i:
                        time.sleep(step.get("every", 0))
                    f.write(os.urandom(step.get("size", 1024)))
                    f.flush()
                time.sleep(step.get("hold", 0))
            _log(log, "closed", path, size=os.path.getsize(path))
        elif "append" in step:
            path = os.path.join(root, step["append"])
            with open(path, "ab") as f:
                f.write(os.urandom(step.get("size", 100)))
            _log(log, "appended", path, size=os.path.getsize(path))
        elif "rename" in step:
            src, dst = os.path.join(root, step["rename"]), os.path.join(root, step["to"])
            os.rename(src, dst)
            _log(log, "renamed", dst, size=os.path.getsize(dst))
        elif "mkdir" in step:
            os.makedirs(os.path.join(root, step["mkdir"]), exist_ok=True)
        elif "rmtree" in step:
            shutil.rmtree(os.path.join(root, step["rmtree"]))
            _log(log, "removed", os.path.join(root, step["rmtree"]))
        elif "sleep" in step:
            time.sleep(step["sleep"])
        elif "parallel" in step:
            threads = [threading.Thread(target=run, args=(seq, root, log))
                       for seq in step["parallel"]]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            raise ValueError(f"unknown step {step}")


def main() -> int:
    script = json.load(open(sys.argv[1]))
    with open(sys.argv[2], "a") as log:
        run(script["steps"], script["root"], log)
        _log(log, "done", script["root"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
