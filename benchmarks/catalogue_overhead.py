#!/usr/bin/env python3
"""What registering in a remote catalogue adds to a job: 20,000 small files to S3, registered
in the embedded catalogue (the baseline) or in ICAT or SciCat, side by side.

Method
------
* One ``rclone serve s3`` (``tests/servers/rclone_s3.py``) receives the bytes for every run;
  it is restarted before each run, outside the timing (a long-lived one slows down as its
  directory cache fills; see benchmarks/README.md). The ICAT and SciCat emulators
  (``tests/servers/``) run as their own processes on loopback and are reset before each run.
* Data: ``--files`` files of ``--size`` bytes of random data (default 20,000 × 4 KiB), made
  once in the work folder and reused.
* Each run is the command a user types, as a child process with a fresh ``DATAUPLOADER_HOME``:
  ``datauploader --config INI upload --proposal MX-1 --dataset D DIR --json --username jdoe``
  (password from ``DATAUPLOADER_PASSWORD``), into a fresh bucket, with the job's default
  settings (``register_batch = 500``: one catalogue request per 500 files).
* Measured: the wall time of the child process, and the engine's own ``elapsed`` from its
  JSON report (the job without interpreter start-up). The catalogue variants run in turn in
  each round, the order rotating between rounds; medians are reported.
* Two figures per catalogue:

  - **critical path**: the time the job waits for the catalogue, from the journal's own
    timestamps: login (timed separately, median of 5), finding or creating the investigation
    and dataset (job running → dataset ready), and the tail after the last file is verified
    (last batch + mark complete). Registration during the transfers runs on its own thread and
    is not on this path; its CPU cost shows in the next columns. This figure hardly depends on
    how busy the machine is.
  - **wall overhead**: ``(median wall with it − median wall with the embedded catalogue) /
    median wall with the embedded catalogue``. It includes everything, including the
    emulator's CPU taken from the 2 cores the client and the S3 server share, and the machine's
    noise (other work, rclone's occasional 5xx that the engine retries); read it with the
    spread of the rounds. The embedded catalogue is not free (SQLite), so both figures
    slightly understate the cost compared with no catalogue at all.
* Client CPU (user + sys of the upload process) and the catalogue emulator's CPU are reported
  per run.
* Checked after each run: exit status 0, the expected number of objects in the bucket, one
  dataset with every datafile in the catalogue's state. A run that fails a check is reported
  as FAILED and left out.

Usage: ``python benchmarks/catalogue_overhead.py [--files 20000] [--size 4096] [--repeat 3]
[--workers 8] [--variants local,icat,scicat-v4,scicat-v3] [--workdir DIR] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers.icat_emulator import ICATServer  # noqa: E402
from tests.servers.rclone_s3 import RcloneS3Server  # noqa: E402
from tests.servers.scicat_emulator import SciCatServer  # noqa: E402

VARIANTS = ("local", "icat", "scicat-v4", "scicat-v3")


def make_data(folder: Path, files: int, size: int) -> Path:
    data = folder / f"data-{files}x{size}"
    marker = data.with_suffix(".complete")
    if marker.exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    for i in range(files):
        sub = data / f"d{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:06d}.bin").write_bytes(os.urandom(size))
    marker.write_text("ok")
    return data


def catalogue_section(variant: str, icat: ICATServer, scicat: SciCatServer) -> str:
    if variant == "local":
        return "[catalogue:cat]\ntype = local\n"
    if variant == "icat":
        return icat.catalogue_ini("cat")
    return scicat.catalogue_ini("cat", variant.split("-")[1], "thumbnail = no\n")


def check(variant: str, icat: ICATServer, scicat: SciCatServer, home: Path, files: int) -> str:
    if variant == "local":
        import sqlite3
        db = sqlite3.connect(home / "data" / "catalogue.sqlite")
        n = db.execute("SELECT COUNT(*) FROM datafiles").fetchone()[0]
        ok = n == files and db.execute("SELECT complete FROM datasets").fetchone()[0] == 1
    elif variant == "icat":
        state = icat.state()
        ok = len(state["Dataset"]) == 1 and state["Dataset"][0]["complete"] and \
            len(state["Datafile"]) == files
    else:
        state = scicat.state()
        n = sum(len(b["dataFileList"]) for b in state["origdatablocks"])
        ok = len(state["datasets"]) == 1 and n == files
    return "" if ok else "the catalogue does not hold exactly one dataset with every file"


def _cpu(server) -> float:
    if server is None:
        return 0.0
    import psutil

    t = psutil.Process(server.proc.pid).cpu_times()
    return t.user + t.system


def phases(home: Path) -> dict:
    """From the journal: seconds the job waited for the catalogue before the first transfer
    could start (investigation, dataset) and after the last file was verified (last batch,
    mark complete)."""
    db = sqlite3.connect(home / "state" / "journal.sqlite")
    events = dict(db.execute("SELECT event, ts FROM job_events").fetchall())
    last_verified = db.execute("SELECT MAX(ts) FROM task_events WHERE state = 'verified'"
                               ).fetchone()[0]
    db.close()
    return {"before": events["dataset"] - events["running"],
            "tail": events["finalized"] - last_verified}


def login_time(variant: str, icat: ICATServer, scicat: SciCatServer) -> float:
    """Median of 5 logins, as the command line does them (properties, session, whoami)."""
    if variant == "local":
        return 0.0
    from datauploader.catalogue.icat import ICATCatalogue
    from datauploader.catalogue.scicat import SciCatCatalogue

    times = []
    for _ in range(5):
        if variant == "icat":
            cat = ICATCatalogue(icat.url, facility="TESTFAC")
            creds = {"username": "jdoe", "password": "secret"}
        else:
            cat = SciCatCatalogue(scicat.url, api_version=variant.split("-")[1])
            creds = {"username": "jdoe", "password": "secret"}
        start = time.monotonic()
        cat.credential_fields()
        cat.login(creds)
        times.append(time.monotonic() - start)
        cat.close()
    return statistics.median(times)


def run_one(variant: str, data: Path, work: Path, s3: RcloneS3Server, icat: ICATServer,
            scicat: SciCatServer, workers: int, files: int, n: int) -> dict:
    s3.restart()
    bucket = s3.create_bucket()
    for server in (icat, scicat):
        server.control("reset")
    run_dir = work / f"run-{n:03d}-{variant}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    ini = run_dir / "bench.ini"
    ini.write_text(f"[settings]\ndefault_profile = bench\nworkers = {workers}\n"
                   "[profile:bench]\ncatalogue = cat\nstorage = st\n"
                   f"[storage:st]\ntype = s3\nendpoint_url = {s3.endpoint_url}\nbucket = {bucket}\n"
                   + catalogue_section(variant, icat, scicat))
    home = run_dir / "home"
    env = {**os.environ, "DATAUPLOADER_HOME": str(home),
           "DATAUPLOADER_SYSTEM_CONFIG": str(run_dir / "none.ini"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
           "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
           "DATAUPLOADER_PASSWORD": "secret"}
    os.sync()
    server = None if variant == "local" else (icat if variant == "icat" else scicat)
    server_cpu = _cpu(server)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "datauploader", "--config", str(ini),
                           "upload", "--proposal", "MX-1", "--dataset", f"bench-{n}",
                           "--json", "--username", "jdoe", str(data)],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {"variant": variant, "wall": wall, "exit": proc.returncode,
              "client_cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}
    if server is not None:
        result["server_cpu"] = _cpu(server) - server_cpu
    problem = ""
    if proc.returncode != 0:
        problem = f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"
    else:
        report = json.loads(proc.stdout)
        result["elapsed"] = report["elapsed"]
        listed = sum(1 for _ in s3.boto3_client().get_paginator("list_objects_v2")
                     .paginate(Bucket=bucket).search("Contents[]"))
        if listed != files:
            problem = f"{listed} objects in the bucket, {files} expected"
        problem = problem or check(variant, icat, scicat, home, files)
        result.update(phases(home))
    if variant != "local":
        server = icat if variant == "icat" else scicat
        result["catalogue_requests"] = len(server.control("log"))
    result["problem"] = problem
    shutil.rmtree(s3.root / bucket, ignore_errors=True)  # disk space
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--workdir")
    p.add_argument("--json", dest="json_out")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    if variants[0] != "local":
        variants = ["local", *[v for v in variants if v != "local"]]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="du-catbench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = make_data(work, args.files, args.size)
    s3 = RcloneS3Server(work / "s3", bucket=None)
    icat = ICATServer(work / "icat")
    scicat = SciCatServer(work / "scicat")
    runs = []
    try:
        s3.start()
        icat.start()
        scicat.start()
        n = 0
        for r in range(args.repeat):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for variant in order:
                n += 1
                res = run_one(variant, data, work, s3, icat, scicat, args.workers, args.files, n)
                runs.append(res)
                status = "FAILED " + res["problem"] if res["problem"] else "ok"
                print(f"round {r + 1} {variant:<10} wall {res['wall']:7.2f} s  "
                      f"engine {res.get('elapsed', float('nan')):7.2f} s  "
                      f"catalogue requests {res.get('catalogue_requests', '-')!s:>5}  {status}",
                      flush=True)
        logins = {v: login_time(v, icat, scicat) for v in variants}
    finally:
        s3.stop()
        icat.stop()
        scicat.stop()

    summary = {}
    for v in variants:
        good = [x for x in runs if x["variant"] == v and not x["problem"]]
        if good:
            med = {k: statistics.median(x[k] for x in good)
                   for k in ("wall", "elapsed", "client_cpu", "before", "tail")}
            med["server_cpu"] = statistics.median(x.get("server_cpu", 0.0) for x in good)
            med["requests"] = statistics.median(x.get("catalogue_requests", 0) for x in good)
            med["login"] = logins.get(v, 0.0)
            med["critical"] = med["login"] + med["before"] + med["tail"]
            med["walls"] = [round(x["wall"], 2) for x in good]
            summary[v] = med
    base = summary.get("local")
    print(f"\n{args.files:,} files × {args.size:,} bytes, {args.workers} workers, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; medians of "
          f"{args.repeat} rounds")
    print(f"{'catalogue':<10} {'wall s':>7} {'files/s':>8} {'client CPU':>10} {'server CPU':>10} "
          f"{'requests':>8} {'critical path':>22} {'wall overhead':>14}  walls")
    for v, m in summary.items():
        crit = (f"{m['critical']:.3f} s = {100 * m['critical'] / m['wall']:.1f} %"
                if v != "local" else f"({m['before'] + m['tail']:.3f} s)")
        over = "" if v == "local" or base is None else \
            f"{100 * (m['wall'] - base['wall']) / base['wall']:+.1f} %"
        print(f"{v:<10} {m['wall']:7.2f} {args.files / m['wall']:8.0f} {m['client_cpu']:10.2f} "
              f"{m['server_cpu']:10.2f} {m['requests']:8.0f} {crit:>22} {over:>14}  {m['walls']}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"runs": runs, "summary": summary}, indent=2))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if any(x["problem"] for x in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
