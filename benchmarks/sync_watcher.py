"""Sync mode: the idle watcher's CPU use, and the latency from a file's completion to the
start of its upload.

    python benchmarks/sync_watcher.py                     # both measurements, both observers
    python benchmarks/sync_watcher.py --files 100000 --idle 60 --latency-files 200

1. Idle CPU: N files (default 100,000, in folders of 1,000) are put under watch and uploaded
   (local profile); then nothing changes for ``--idle`` seconds and the CPU time of the whole
   process (watcher, engine, journal) is measured: the target is below 1 % of one core.
2. Latency: a writer process creates files one after another (each written in two bursts,
   then closed); the time from its close to the upload's start (the engine's FileStarted
   event) is measured for each: the target is settle time + 1 s at the 95th percentile.
Both with file-system events and with polling (as used for network shares).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from datauploader.app.paths import resolve  # noqa: E402
from datauploader.app.service import Service  # noqa: E402
from datauploader.core.controls import JobControls  # noqa: E402
from datauploader.core.models import DatasetDefinition, Mode  # noqa: E402
from datauploader.events import Subscriber  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)



class Recorder(Subscriber):
    def __init__(self):
        self.started: dict[str, float] = {}
        self.done = 0
        self.lock = threading.Lock()

    def on_file_started(self, e, **kw):
        with self.lock:
            self.started.setdefault(e.relpath, time.time())

    def on_file_done(self, e, **kw):
        with self.lock:
            self.done += 1


def start_sync(work: str, folder: str, observer: str, settle: float):
    home = tempfile.mkdtemp(prefix=f"home-{observer}-", dir=work)
    cfg = os.path.join(home, "bench.ini")
    with open(cfg, "w") as f:
        f.write(f"[settings]\nsettle_time = {settle}\nsync_observer = {observer}\n"
                "sync_poll_interval = 2\nsync_rescan_interval = 600\nworkers = 8\n"
                f"[storage:local]\nverify = size\n")
    env = {"DATAUPLOADER_HOME": home, "DATAUPLOADER_SYSTEM_CONFIG": os.path.join(home, "none"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    service = Service.open(resolve(env), [cfg], env)
    service.login("local")
    d = DatasetDefinition(proposal="BENCH", name=f"sync-{observer}", paths=[folder],
                          mode=Mode.SYNC.value)
    job_id = service.create_job(d, "local")
    controls = JobControls()
    rec = Recorder()
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("done", service.run_job(job_id, [rec], controls)))
    thread.start()
    return service, controls, rec, thread, result


def idle_cpu(work: str, n: int, idle: float, observer: str) -> dict:
    import psutil

    folder = os.path.join(work, f"idle-{n}")
    marker = folder + ".complete"
    if not os.path.exists(marker):
        print(f"  creating {n:,} files in {folder} …", flush=True)
        for i in range(n):
            sub = os.path.join(folder, f"d{i // 1000:04d}")
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, f"f{i:06d}.dat"), "wb") as f:
                f.write(b"%d" % i)
        open(marker, "w").close()
    service, controls, rec, thread, result = start_sync(work, folder, observer, settle=1.0)
    t0 = time.monotonic()
    while rec.done < n:
        time.sleep(0.5)
        if not thread.is_alive():
            raise RuntimeError(f"the sync job ended early: {result}")
    took = time.monotonic() - t0
    print(f"  [{observer}] {n:,} files uploaded in {took:.0f} s; now idle for {idle:.0f} s …",
          flush=True)
    time.sleep(3)  # let the last registrations settle
    proc = psutil.Process()
    c0, w0 = proc.cpu_times(), time.monotonic()
    time.sleep(idle)
    c1, w1 = proc.cpu_times(), time.monotonic()
    cpu = (c1.user + c1.system) - (c0.user + c0.system)
    rss = proc.memory_info().rss
    controls.finish()
    thread.join(600)
    service.close()
    return {"observer": observer, "files": n, "upload_s": round(took, 1),
            "idle_s": round(w1 - w0, 1), "cpu_s": round(cpu, 3),
            "cpu_percent_of_one_core": round(100 * cpu / (w1 - w0), 3),
            "rss_mib": round(rss / 2**20), "state": result["done"].state}


def latency(work: str, files: int, settle: float, observer: str) -> dict:
    folder = tempfile.mkdtemp(prefix=f"latency-{observer}-", dir=work)
    service, controls, rec, thread, result = start_sync(work, folder, observer, settle)
    log = os.path.join(folder + ".log")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, folder, str(files), log])
    writer.wait()
    closed = {}
    for line in open(log):
        e = json.loads(line)
        closed[e["name"]] = e["closed"]
    deadline = time.monotonic() + settle + 120
    while len(rec.started) < files and time.monotonic() < deadline:
        time.sleep(0.2)
    controls.finish()
    thread.join(120)
    service.close()
    base = os.path.basename(folder)
    delays = sorted(rec.started[f"{base}/{name}"] - t for name, t in closed.items()
                    if f"{base}/{name}" in rec.started)
    pick = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]
    return {"observer": observer, "files": files, "settle_s": settle,
            "uploaded": len(delays), "p50_s": round(pick(0.5), 2),
            "p95_s": round(pick(0.95), 2), "max_s": round(delays[-1], 2),
            "target_p95_s": settle + 1, "state": result["done"].state}


WRITER = r"""
import json, os, random, sys, time
folder, n, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
random.seed(7)
with open(log, "w") as out:
    for i in range(n):
        name = f"frame_{i:05d}.raw"
        with open(os.path.join(folder, name), "wb") as f:
            f.write(os.urandom(32768)); f.flush()
            time.sleep(0.05)
            f.write(os.urandom(32768))
        out.write(json.dumps({"name": name, "closed": time.time()}) + "\n"); out.flush()
        time.sleep(random.uniform(0.1, 0.4))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--latency-files", type=int, default=200)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--observers", default="events,polling")
    ap.add_argument("--skip-idle", action="store_true")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "du-sync-bench"))
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    results = {"idle": [], "latency": []}
    for observer in args.observers.split(","):
        if not args.skip_idle:
            results["idle"].append(idle_cpu(args.workdir, args.files, args.idle, observer))
        results["latency"].append(latency(args.workdir, args.latency_files, args.settle,
                                          observer))
    print()
    for r in results["idle"]:
        print(f"idle watcher [{r['observer']:<7}] {r['files']:,} files under watch: "
              f"{r['cpu_s']:.2f} CPU s in {r['idle_s']:.0f} s = {r['cpu_percent_of_one_core']:.2f} % "
              f"of one core (target < 1 %); RSS {r['rss_mib']} MiB")
    for r in results["latency"]:
        print(f"latency      [{r['observer']:<7}] {r['uploaded']}/{r['files']} files, settle "
              f"{r['settle_s']:g} s: p50 {r['p50_s']:.2f} s, p95 {r['p95_s']:.2f} s, max "
              f"{r['max_s']:.2f} s (target p95 ≤ {r['target_p95_s']:g} s)")
    json.dump(results, open(os.path.join(args.workdir, "results.json"), "w"), indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
