#!/usr/bin/env python3
"""DataUploader vs ``rclone copy``: the same data, the same ``rclone serve s3``, one run.

Method
------
* One ``rclone serve s3`` (``tests/servers/rclone_s3.py``) on loopback serves every run;
  it is restarted (same binary, port and root) before each run, outside the timing, because
  a long-lived one slows down as its directory cache fills (``--no-restart`` to keep one
  process; see ``fresh_server``).
* Data sets (random bytes from ``os.urandom``, so nothing compresses), made once in the
  work folder and reused when present:

  ======  ==========================  ==============================
  big     1 file of 1 GiB             large-object / multipart path
  mid     2,000 files of 256 KiB      per-request cost with real bodies
  small   20,000 files of 4 KiB       per-request cost only
  ======  ==========================  ==============================

* Each tool runs as a user would run it, as a child process:

  - DataUploader: ``datauploader --config INI upload --proposal P --dataset D FOLDER`` with
    a fresh ``DATAUPLOADER_HOME`` (so the journal and the local catalogue are real),
    ``checksum = sha256``, ``workers = N``, and the S3 storage's default part settings;
    credentials from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``.
  - rclone: ``rclone copy FOLDER bench:BUCKET/NAME --transfers N --no-check-dest`` with the
    remote defined only by ``RCLONE_CONFIG_BENCH_*`` environment variables and an empty
    ``--config`` file; other rclone settings are its defaults (plus ``--rclone-args``).

* Each child is measured with ``os.wait4``: wall time around it, and the rusage of exactly
  that process and its reaped children (user + sys CPU seconds, peak RSS). The server's
  CPU seconds over the same run come from psutil on its pid.
* Every run uploads into a fresh bucket (never an existing prefix: DataUploader would verify
  and skip, rclone would compare). After each run the bucket is listed with boto3 and must
  hold exactly the expected number of objects and bytes, and the tool's exit status must be
  0; a run that fails either check is reported as FAILED and left out of the medians, so a
  broken run can never look fast. The bucket's files are then deleted from the server's
  folder (disk space).

Fairness rules (docs/development.md, "Benchmarks")
-------------------------------------------------
* Client and server share the machine's cores: absolute speeds mean little; compare the
  tools side by side in one run and read the ratio. The server's CPU seconds and the
  "busy" column (all CPU used / (wall x cores)) show when the machine, not the tool, limits.
* Same server, same data, same concurrency (``--transfers`` = DataUploader's ``workers``).
* ``--no-check-dest`` so that rclone never skips or compares; fresh buckets for both tools,
  and a freshly started server for each run, so that no run inherits another's state.
* Before each run the data set is read once (page cache warm for both tools) and
  ``os.sync()`` flushes the previous run's writes, so neither tool pays for the other.
* Each data set is run ``--repeat`` times, alternating which tool goes first; medians are
  reported (with min-max). No timed assertions anywhere: this is a report.

Usage: ``python benchmarks/s3_vs_rclone.py [--sets big,mid,small] [--repeat 3] [--workers 8]
[--workdir DIR] [--json FILE] [--keep] [--rclone-args="..."]`` (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import psutil  # noqa: E402

from tests.servers.rclone_s3 import RcloneS3Server, find_rclone  # noqa: E402

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
TOOLS = ("datauploader", "rclone")


# ---------------------------------------------------------------- data sets

@dataclass(frozen=True)
class DataSet:
    name: str
    label: str
    count: int
    size: int

    @property
    def total_bytes(self) -> int:
        return self.count * self.size


DATA_SETS = {
    "big": DataSet("big", "1 x 1 GiB", 1, GiB),
    "mid": DataSet("mid", "2,000 x 256 KiB", 2000, 256 * KiB),
    "small": DataSet("small", "20,000 x 4 KiB", 20000, 4 * KiB),
}


def data_folder(workdir: Path, ds: DataSet) -> Path:
    return workdir / "data" / ds.name


def ensure_data(workdir: Path, ds: DataSet) -> Path:
    """The data set's folder, made (random bytes) unless a complete one is already there.
    A marker beside the folder (not inside: it would be uploaded) records that it is whole."""
    folder = data_folder(workdir, ds)
    marker = folder.parent / f"{ds.name}.complete"
    spec = f"{ds.count} x {ds.size}\n"
    if marker.is_file() and marker.read_text() == spec:
        return folder
    log(f"generating {ds.label} in {folder} ...")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    width = len(str(ds.count))
    chunk = 16 * MiB
    for i in range(ds.count):
        with open(folder / f"f{i:0{width}d}.bin", "wb") as f:
            left = ds.size
            while left:
                n = min(chunk, left)
                f.write(os.urandom(n))
                left -= n
    marker.write_text(spec)
    return folder


def warm_and_sync(folder: Path) -> None:
    """Read every file once (both tools start with the data in the page cache) and flush
    pending writes (the previous run's objects) so that no run pays for another's I/O."""
    buf = bytearray(8 * MiB)
    for entry in os.scandir(folder):
        with open(entry.path, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass
    os.sync()


# ---------------------------------------------------------------- measuring one child

@dataclass
class Run:
    tool: str
    data_set: str
    round: int
    position: int            # 0 = this tool went first in its round
    exit_code: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0       # user + sys of the tool's process and its reaped children
    user_s: float = 0.0
    sys_s: float = 0.0
    peak_rss_mib: float = 0.0
    server_cpu_s: float = 0.0
    server_rss_mib: float = 0.0  # the server's resident memory just after the run
    objects: int = 0
    object_bytes: int = 0
    ok: bool = False
    problem: str = ""
    mb_s: float = 0.0
    files_s: float = 0.0

    @property
    def busy(self) -> float:
        return (self.cpu_s + self.server_cpu_s) / (self.wall_s * (os.cpu_count() or 1))


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def measure(cmd: list[str], env: dict[str, str], out_path: Path, server_ps: psutil.Process,
            run: Run) -> None:
    """Run cmd to completion; fill run's wall time, rusage and the server's CPU."""
    with open(out_path, "wb") as out:
        server_before = cpu_seconds(server_ps)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        _, status, ru = os.wait4(proc.pid, 0)
        run.wall_s = time.perf_counter() - start
        run.server_cpu_s = cpu_seconds(server_ps) - server_before
    proc.returncode = run.exit_code = os.waitstatus_to_exitcode(status)  # reaped by wait4
    run.user_s, run.sys_s = ru.ru_utime, ru.ru_stime
    run.cpu_s = ru.ru_utime + ru.ru_stime
    run.peak_rss_mib = ru.ru_maxrss / 1024  # Linux: KiB


# ---------------------------------------------------------------- the two tools

def clean_env() -> dict[str, str]:
    """The caller's environment without anything that could steer either tool."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("AWS_", "RCLONE_", "DATAUPLOADER_"))}


def datauploader_command(args, server: RcloneS3Server, bucket: str, folder: Path,
                         run_dir: Path, ds: DataSet) -> tuple[list[str], dict[str, str]]:
    ini = run_dir / "datauploader.ini"
    ini.write_text(
        "[settings]\n"
        "default_profile = s3\n"
        f"workers = {args.workers}\n"
        "checksum = sha256\n"
        "\n[profile:s3]\ncatalogue = local\nstorage = s3t\n"
        f"\n[storage:s3t]\ntype = s3\nendpoint_url = {server.endpoint_url}\nbucket = {bucket}\n")
    env = clean_env()
    env.update({
        "DATAUPLOADER_HOME": str(run_dir / "home"),  # fresh journal, catalogue, logs
        "DATAUPLOADER_SYSTEM_CONFIG": str(run_dir / "no-system.ini"),  # absent: not read
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
    })
    exe = shutil.which("datauploader", path=str(Path(sys.executable).parent)) or "datauploader"
    cmd = [exe, "--config", str(ini), "upload", "--proposal", "P", "--dataset", ds.name,
           str(folder)]
    return cmd, env


def rclone_command(args, server: RcloneS3Server, bucket: str, folder: Path,
                   run_dir: Path, ds: DataSet) -> tuple[list[str], dict[str, str]]:
    empty = run_dir / "rclone.conf"
    empty.write_text("")
    env = clean_env()
    env.update({
        "RCLONE_CONFIG_BENCH_TYPE": "s3",
        "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
        "RCLONE_CONFIG_BENCH_ENDPOINT": server.endpoint_url,
        "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": server.access_key,
        "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": server.secret_key,
        "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
    })
    cmd = [args.rclone, "copy", str(folder), f"bench:{bucket}/{ds.name}",
           "--config", str(empty), "--transfers", str(args.workers), "--no-check-dest",
           *shlex.split(args.rclone_args)]
    return cmd, env


COMMANDS = {"datauploader": datauploader_command, "rclone": rclone_command}


def list_bucket(server: RcloneS3Server, bucket: str) -> tuple[int, int]:
    """(objects, bytes) in the bucket, through the server."""
    count = size = 0
    for page in server.boto3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            count += 1
            size += obj["Size"]
    return count, size


def fresh_server(server: RcloneS3Server) -> None:
    """Restart the server (same binary, port and root) so that every run meets the same
    server state. One long-lived ``rclone serve s3`` keeps every object it has seen in its
    VFS directory cache (its RSS grows by ~3 KiB per object, and its garbage collector's
    work with it): over 120,000 small objects its CPU per run rose by ~40 %, which
    penalises whichever tool runs later."""
    server.restart()
    server._boto3 = None  # its pooled connections went to the old process


def one_run(args, server: RcloneS3Server, ds: DataSet,
            folder: Path, tool: str, rnd: int, position: int, runs_dir: Path) -> Run:
    run = Run(tool, ds.name, rnd, position)
    if not args.no_restart:
        fresh_server(server)
    server_ps = psutil.Process(server.proc.pid)
    run_dir = runs_dir / f"{ds.name}-round{rnd + 1}-{tool}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    bucket = server.create_bucket()
    cmd, env = COMMANDS[tool](args, server, bucket, folder, run_dir, ds)
    warm_and_sync(folder)
    out_path = run_dir / "output.txt"
    measure(cmd, env, out_path, server_ps, run)
    run.server_rss_mib = server_ps.memory_info().rss / MiB

    run.objects, run.object_bytes = list_bucket(server, bucket)
    problems = []
    if run.exit_code != 0:
        tail = out_path.read_text(errors="replace").strip().splitlines()[-2:]
        problems.append(f"exit status {run.exit_code}: "
                        + " | ".join(line[:200] for line in tail))
    if (run.objects, run.object_bytes) != (ds.count, ds.total_bytes):
        problems.append(f"bucket holds {run.objects} objects / {run.object_bytes} bytes, "
                        f"expected {ds.count} / {ds.total_bytes}")
    run.ok = not problems
    run.problem = "; ".join(problems)
    run.mb_s = ds.total_bytes / run.wall_s / 1e6
    run.files_s = ds.count / run.wall_s

    shutil.rmtree(server.path_of(bucket, ""), ignore_errors=True)  # never read again
    if run.ok and not args.keep:  # a failed run's folder (output, journal) stays for a look
        shutil.rmtree(run_dir, ignore_errors=True)
    return run


# ---------------------------------------------------------------- report

@dataclass
class Summary:
    data_set: str
    label: str
    tool: str
    runs_ok: int
    runs: int
    mb_s: float = float("nan")
    mb_s_min: float = float("nan")
    mb_s_max: float = float("nan")
    files_s: float = float("nan")
    wall_s: float = float("nan")
    cpu_s: float = float("nan")
    peak_rss_mib: float = float("nan")
    server_cpu_s: float = float("nan")
    busy: float = float("nan")
    problems: list[str] = field(default_factory=list)


def summarise(ds: DataSet, tool: str, runs: list[Run]) -> Summary:
    mine = [r for r in runs if r.tool == tool]
    good = [r for r in mine if r.ok]
    s = Summary(ds.name, ds.label, tool, len(good), len(mine),
                problems=[f"round {r.round + 1}: {r.problem}" for r in mine if not r.ok])
    if good:
        med = statistics.median
        s.wall_s = med(r.wall_s for r in good)
        s.mb_s = ds.total_bytes / s.wall_s / 1e6
        s.files_s = ds.count / s.wall_s
        s.mb_s_min = min(r.mb_s for r in good)
        s.mb_s_max = max(r.mb_s for r in good)
        s.cpu_s = med(r.cpu_s for r in good)
        s.peak_rss_mib = med(r.peak_rss_mib for r in good)
        s.server_cpu_s = med(r.server_cpu_s for r in good)
        s.busy = med(r.busy for r in good)
    return s


def round_ratios(runs: list[Run]) -> list[float]:
    """DataUploader / rclone throughput for each round where both runs succeeded."""
    by = {(r.round, r.tool): r for r in runs}
    out = []
    for rnd in sorted({r.round for r in runs}):
        du, rc = by.get((rnd, "datauploader")), by.get((rnd, "rclone"))
        if du and rc and du.ok and rc.ok:
            out.append(rc.wall_s / du.wall_s)
    return out


def rate_spec(value: float) -> str:
    """Decimals for a rate: a few for small ones (one big file: 0.17 files/s), none else."""
    return ".2f" if value < 10 else ".0f"


def fmt(value: float, spec: str) -> str:
    return "-" if value != value else format(value, spec)  # NaN -> "-"


HEADER = (f"{'data set':<17} {'tool':<13} {'MB/s':>8} {'(min-max)':>13} {'files/s':>9} "
          f"{'wall s':>7} {'CPU s':>7} {'peak RSS MiB':>12} {'server CPU s':>12} {'busy':>5}")


def table_rows(ds: DataSet, summaries: list[Summary], ratios: list[float]) -> list[str]:
    rows = []
    for i, s in enumerate(summaries):
        rng = f"{s.mb_s_min:.1f}-{s.mb_s_max:.1f}" if s.runs_ok else "-"
        line = (f"{ds.label if i == 0 else '':<17} {s.tool:<13} {fmt(s.mb_s, '8.1f'):>8} "
                f"{rng:>13} {fmt(s.files_s, rate_spec(s.files_s)):>9} {fmt(s.wall_s, '7.2f'):>7} "
                f"{fmt(s.cpu_s, '7.2f'):>7} {fmt(s.peak_rss_mib, '12.0f'):>12} "
                f"{fmt(s.server_cpu_s, '12.2f'):>12} {fmt(s.busy * 100, '4.0f'):>4}%")
        if s.runs_ok < s.runs:
            line += f"   FAILED {s.runs - s.runs_ok} of {s.runs}"
        rows.append(line)
    du, rc = summaries
    if du.runs_ok and rc.runs_ok:
        ratio = du.mb_s / rc.mb_s
        per = ", ".join(f"{r:.2f}" for r in ratios)
        rows.append(f"{'':<17} ratio (DU/rclone throughput): {ratio:.2f}   per round: {per}")
    else:
        rows.append(f"{'':<17} ratio (DU/rclone throughput): - (a tool has no good run)")
    for s in summaries:
        for p in s.problems:
            rows.append(f"{'':<17} ! {s.tool} {p}")
    return rows


def machine_line(rclone: str) -> tuple[str, dict]:
    rclone_version = subprocess.run([rclone, "version"], capture_output=True, text=True,
                                    check=False).stdout.splitlines()[:1]
    du_version = subprocess.run(
        [sys.executable, "-c", "import datauploader; print(datauploader.__version__)"],
        capture_output=True, text=True, check=False).stdout.strip() or "?"
    cpu_model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cores": os.cpu_count(),
        "cpu": cpu_model,
        "memory_gib": round(psutil.virtual_memory().total / GiB, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "rclone": rclone_version[0] if rclone_version else "?",
        "datauploader": du_version,
    }
    text = (f"machine: {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB RAM, "
            f"{info['platform']}; Python {info['python']}; {info['rclone']}; "
            f"datauploader {info['datauploader']}")
    return text, info


# ---------------------------------------------------------------- main

def log(msg: str) -> None:
    print(msg, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Upload the same data with DataUploader and with `rclone copy` to the same "
                    "`rclone serve s3`, and report throughput, CPU and memory side by side.")
    p.add_argument("--sets", default="big,mid,small",
                   help="comma-separated data sets: big (1 x 1 GiB), mid (2,000 x 256 KiB), "
                        "small (20,000 x 4 KiB); default: all")
    p.add_argument("--workers", type=int, default=8,
                   help="DataUploader workers = rclone --transfers (default 8)")
    p.add_argument("--repeat", type=int, default=3, help="runs per tool and data set (default 3)")
    p.add_argument("--workdir", type=Path,
                   help="where data, server root and run folders go (default: a temporary "
                        "folder); existing data here is reused")
    p.add_argument("--json", type=Path, help="also write all results to this JSON file")
    p.add_argument("--keep", action="store_true",
                   help="keep generated data and each run's folder (config, journal, output)")
    p.add_argument("--rclone-args", default="",
                   help='extra flags for rclone copy; use the = form: '
                        '--rclone-args="--s3-chunk-size 16M" or --rclone-args=--s3-no-head')
    p.add_argument("--no-restart", action="store_true",
                   help="one server process for all runs (default: restart it, same port and "
                        "root, before each run, so that no run inherits another's server state)")
    p.add_argument("--rclone", default=None, help="rclone binary (default: the venv's)")
    args = p.parse_args(argv)
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [n for n in names if n not in DATA_SETS]
    if unknown or not names:
        p.error(f"unknown data set(s) {unknown}; choose from {', '.join(DATA_SETS)}")
    args.data_sets = [DATA_SETS[n] for n in names]
    if args.repeat < 1 or args.workers < 1:
        p.error("--repeat and --workers must be at least 1")
    args.rclone = args.rclone or find_rclone()
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    temp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="du-bench-")) if temp else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    machine, machine_info = machine_line(args.rclone)
    log(machine)
    log(f"workdir {workdir}; workers/--transfers {args.workers}; repeat {args.repeat}; "
        f"rclone extra args: {args.rclone_args or '(none)'}")

    s3_root = workdir / "s3"
    if s3_root.exists():
        shutil.rmtree(s3_root)
    runs_dir = workdir / "runs"
    server = RcloneS3Server(s3_root).start()
    all_runs: list[Run] = []
    sections = []
    try:
        log(f"server: rclone serve s3 at {server.endpoint_url}, "
            + ("one process for all runs" if args.no_restart else "restarted before each run"))
        for ds in args.data_sets:
            folder = ensure_data(workdir, ds)
            runs: list[Run] = []
            for rnd in range(args.repeat):
                order = TOOLS if rnd % 2 == 0 else TOOLS[::-1]
                for position, tool in enumerate(order):
                    run = one_run(args, server, ds, folder, tool, rnd, position,
                                  runs_dir)
                    runs.append(run)
                    status = "ok" if run.ok else f"FAILED: {run.problem}"
                    log(f"  {ds.label:<16} round {rnd + 1} {tool:<13} {run.wall_s:7.2f} s "
                        f"{run.mb_s:8.1f} MB/s {run.files_s:7{rate_spec(run.files_s)}} files/s  CPU {run.cpu_s:6.2f} s "
                        f"RSS {run.peak_rss_mib:5.0f} MiB  server CPU {run.server_cpu_s:6.2f} s"
                        f" (RSS {run.server_rss_mib:4.0f} MiB)  {status}")
            all_runs += runs
            summaries = [summarise(ds, t, runs) for t in TOOLS]
            sections.append((ds, summaries, round_ratios(runs)))
    finally:
        server.stop()
        all_ok = bool(all_runs) and all(r.ok for r in all_runs)
        if not args.keep:
            shutil.rmtree(s3_root, ignore_errors=True)
            if temp:
                shutil.rmtree(workdir / "data", ignore_errors=True)
            if all_ok:
                for leftover in (server.log_path, server._config_path):  # beside s3/
                    leftover.unlink(missing_ok=True)
                shutil.rmtree(runs_dir, ignore_errors=True)
                if temp:
                    shutil.rmtree(workdir, ignore_errors=True)
        if args.keep or not all_ok:
            log(f"kept in {workdir}: runs/ (each run's configuration, output and journal"
                f"{'' if args.keep else ', failed runs only'}), the server log "
                f"{server.log_path.name}")

    log("")
    log(machine)
    log(f"medians of {args.repeat} runs per tool, alternating which goes first; server "
        f"{'kept running' if args.no_restart else 'restarted before each run'}; "
        f"{args.workers} workers / --transfers; MB = 10^6 bytes; CPU s = user+sys of the tool "
        "and its children; busy = (tool + server CPU) / (wall x cores)")
    log(HEADER)
    for ds, summaries, ratios in sections:
        for row in table_rows(ds, summaries, ratios):
            log(row)

    if args.json:
        doc = {
            "machine": machine_info,
            "settings": {"workers": args.workers, "repeat": args.repeat,
                         "server_restarted_each_run": not args.no_restart,
                         "rclone_args": args.rclone_args, "sets": [d.name for d in args.data_sets]},
            "runs": [dict(asdict(r), busy=r.busy) for r in all_runs],
            "summary": [
                {"data_set": ds.name, "label": ds.label, "files": ds.count,
                 "bytes": ds.total_bytes,
                 "tools": {s.tool: asdict(s) for s in summaries},
                 "ratio": (summaries[0].mb_s / summaries[1].mb_s
                           if summaries[0].runs_ok and summaries[1].runs_ok else None),
                 "ratio_per_round": ratios}
                for ds, summaries, ratios in sections],
        }
        args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        log(f"results written to {args.json}")
    return 0 if all(r.ok for r in all_runs) else 1


if __name__ == "__main__":
    sys.exit(main())
