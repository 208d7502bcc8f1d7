#!/usr/bin/env python3
"""DataUploader vs ``rclone copy`` over WebDAV and SFTP: the same data, the same servers, one run.

Method: as ``benchmarks/s3_vs_rclone.py``, whose data sets, checks and report this reuses.

* Targets (``--targets``, default ``webdav,sftp``), each a real server on loopback started
  from ``tests/servers/`` and restarted (same port and folder) before every run, outside the
  timing, so that no run inherits another's server state:

  ============  ===============================================================================
  webdav        ``rclone serve webdav --etag-hash MD5``, basic auth: a server that states each
                file's checksum (as Nextcloud/ownCloud and dCache do, in their own headers).
                DataUploader computes an MD5 besides the job's checksum and compares it with
                the ETag; rclone does not know the ETags are MD5s and checks sizes only
  webdav-plain  ``rclone serve webdav`` with opaque ETags: both tools check sizes only
  sftp          ``rclone serve sftp``, key auth; it answers md5sum in-process (from the MD5
                it computed while writing), which both tools ask for (DataUploader for
                files from 8 MiB, rclone for every file)
  sshd          OpenSSH's sshd: a checksum command starts a process on the server (~80 ms),
                which ``rclone copy`` does for every file (md5sum) and DataUploader for files
                from 8 MiB (sha1sum); needs ``openssh-server`` and /run/sshd
  ============  ===============================================================================

* Data sets (random bytes, made once in the work folder and reused): ``big`` 1 × 256 MiB,
  ``mid`` 1,000 × 256 KiB, ``small`` 5,000 × 4 KiB; on request ``gib`` 1 × 1 GiB (the S3
  benchmark's big file) and ``one`` 1 × 4 KiB (what a run costs besides its data: start-up,
  log-in, journal, catalogue).
* Each tool runs as a user would run it, as a child process, into a fresh folder:

  - DataUploader: ``datauploader --config INI upload --proposal P --dataset <set> FOLDER`` with
    a fresh ``DATAUPLOADER_HOME`` (a real journal and local catalogue), ``workers = N``,
    ``checksum = sha256``, the storage's defaults; the WebDAV password in
    ``DATAUPLOADER_WEBDAV_PASSWORD``, the server's host key in ``$HOME/.ssh/known_hosts``.
  - rclone: ``rclone copy FOLDER bench:<folder> --transfers N --no-check-dest`` (plus
    ``--webdav-pacer-min-sleep 0`` for WebDAV, see docs/development.md), the remote defined only
    by ``RCLONE_CONFIG_BENCH_*`` variables and an empty ``--config``; everything else is
    rclone's default (it verifies sizes, and hashes where the remote has them: md5 over SFTP).

* DataUploader's own modules are byte-compiled once before the runs (``compileall``, as
  ``pip install`` does for a wheel): in an editable checkout with PYTHONDONTWRITEBYTECODE set
  every run would otherwise compile them from source first (about 0.05 s per run, a fifth
  of DataUploader's fixed start-up cost, which rclone, a compiled program, does not have).
* Each child is measured with ``os.wait4`` (wall time; user + sys CPU of the process and its
  reaped children; peak RSS); the server's CPU over the run (its children included: sshd's
  session processes) comes from psutil.
* After each run the folder on the server's disk must hold exactly the data set's files and
  bytes (no temporary file left), and the tool must have exited with 0; otherwise the run is
  reported as FAILED and left out of the medians.
* ``--repeat`` rounds, alternating which tool goes first; medians and the throughput ratio
  DataUploader / rclone (above 1: DataUploader faster) per data set. Client and server share
  the machine's cores: read the ratios, not the absolute speeds. No timed assertions: a report.

Usage: ``python benchmarks/webdav_sftp_vs_rclone.py [--targets webdav,sftp] [--sets
big,mid,small] [--repeat 3] [--workers 8] [--checksum sha256] [--verify MODE]
[--option KEY=VALUE] [--workdir DIR] [--json FILE] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import psutil  # noqa: E402
import requests  # noqa: E402

from benchmarks.s3_vs_rclone import (HEADER, TOOLS, DataSet, Run, clean_env,  # noqa: E402
                                     ensure_data, machine_line, rate_spec, round_ratios,
                                     summarise, table_rows, warm_and_sync)
from tests.servers.rclone_s3 import find_rclone  # noqa: E402
from tests.servers.rclone_sftp import RcloneSFTPServer  # noqa: E402
from tests.servers.rclone_webdav import RcloneWebDAVServer  # noqa: E402
from tests.servers.sshd import SshdServer, sshd_unavailable  # noqa: E402

KiB, MiB = 1 << 10, 1 << 20
DATA_SETS = {
    "big": DataSet("big", "1 x 256 MiB", 1, 256 * MiB),
    "mid": DataSet("mid", "1,000 x 256 KiB", 1000, 256 * KiB),
    "small": DataSet("small", "5,000 x 4 KiB", 5000, 4 * KiB),
    # optional: issue 2's big file, and one tiny file (each tool's fixed cost per run)
    "gib": DataSet("gib", "1 x 1 GiB", 1, 1024 * MiB),
    "one": DataSet("one", "1 x 4 KiB", 1, 4 * KiB),
}
TARGETS = ("webdav", "webdav-plain", "sftp", "sshd")


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- servers and folders

class Target:
    """A server of one kind, and how each tool is pointed at a fresh folder on it."""

    def __init__(self, name: str, workdir: Path, rclone: str):
        self.name = name
        self.rclone = rclone
        self.dir = workdir / f"server-{name}"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        if name.startswith("webdav"):
            self.server = RcloneWebDAVServer(self.dir, user="bench", password="bench-pw",
                                             etag_hash="MD5" if name == "webdav" else None)
        elif name == "sftp":
            # the default VFS mode (no write cache): files go straight to disk for both tools
            self.server = RcloneSFTPServer(self.dir)
            self.server.command = self._rclone_sftp_command
        else:
            self.server = SshdServer(self.dir)
        self.server.start()
        self.home = self.dir / "userhome"
        (self.home / ".ssh").mkdir(parents=True, exist_ok=True)
        if hasattr(self.server, "host_key_line"):
            (self.home / ".ssh" / "known_hosts").write_text(self.server.host_key_line + "\n")
        self.obscured = None
        if name.startswith("webdav"):
            self.obscured = subprocess.run([rclone, "obscure", "bench-pw"], capture_output=True,
                                           text=True, check=True).stdout.strip()

    def _rclone_sftp_command(self) -> list[str]:
        cmd = RcloneSFTPServer.command(self.server)
        i = cmd.index("--vfs-cache-mode")
        return cmd[:i] + cmd[i + 4:]  # drop --vfs-cache-mode writes --vfs-write-back 0s

    @property
    def pid(self) -> int:
        return self.server.proc.pid

    def restart(self) -> None:
        self.server.restart()

    def make_folder(self, name: str) -> Path:
        """The run's folder (made before the server restarts, so that it sees it)."""
        path = self.server.root / name
        path.mkdir(parents=True)
        return path

    def stop(self) -> None:
        self.server.stop()

    # -- the two tools
    def datauploader(self, args, folder: str, data: Path, run_dir: Path, ds: DataSet):
        s = self.server
        if self.name.startswith("webdav"):
            storage = (f"type = webdav\nurl = {s.url}/{folder}\nusername = bench\n")
        elif self.name == "sftp":
            storage = (f"type = sftp\nhost = 127.0.0.1\nport = {s.port}\nusername = {s.user}\n"
                       f"path = /{folder}\nkey_file = {s.client_key}\nuse_agent = no\n")
        else:
            storage = (f"type = sftp\nhost = 127.0.0.1\nport = {s.port}\nusername = {s.user}\n"
                       f"path = {s.root / folder}\nkey_file = {s.client_key}\nuse_agent = no\n")
        if args.verify:
            storage += f"verify = {args.verify}\n"
        for option in args.option:
            storage += option.strip() + "\n"
        ini = run_dir / "datauploader.ini"
        ini.write_text(f"[settings]\ndefault_profile = b\nworkers = {args.workers}\n"
                       f"checksum = {args.checksum}\n\n[profile:b]\ncatalogue = local\n"
                       f"storage = t\n\n[storage:t]\n{storage}")
        env = clean_env()
        env.update({"DATAUPLOADER_HOME": str(run_dir / "home"),
                    "DATAUPLOADER_SYSTEM_CONFIG": str(run_dir / "no-system.ini"),
                    "HOME": str(self.home), "DATAUPLOADER_WEBDAV_PASSWORD": "bench-pw"})
        env.pop("SSH_AUTH_SOCK", None)
        exe = shutil.which("datauploader", path=str(Path(sys.executable).parent)) or "datauploader"
        return [exe, "--config", str(ini), "upload", "--proposal", "P", "--dataset", ds.name,
                str(data)], env

    def rclone_copy(self, args, folder: str, data: Path, run_dir: Path, ds: DataSet):
        s = self.server
        empty = run_dir / "rclone.conf"
        empty.write_text("")
        env = clean_env()
        extra = []
        if self.name.startswith("webdav"):
            env.update({"RCLONE_CONFIG_BENCH_TYPE": "webdav", "RCLONE_CONFIG_BENCH_URL": s.url,
                        "RCLONE_CONFIG_BENCH_VENDOR": "other", "RCLONE_CONFIG_BENCH_USER": "bench",
                        "RCLONE_CONFIG_BENCH_PASS": self.obscured})
            extra = ["--webdav-pacer-min-sleep", "0"]
            dest = f"bench:{folder}/P/{ds.name}/{data.name}"
        else:
            env.update({"RCLONE_CONFIG_BENCH_TYPE": "sftp", "RCLONE_CONFIG_BENCH_HOST": "127.0.0.1",
                        "RCLONE_CONFIG_BENCH_PORT": str(s.port),
                        "RCLONE_CONFIG_BENCH_USER": s.user,
                        "RCLONE_CONFIG_BENCH_KEY_FILE": str(s.client_key),
                        "RCLONE_CONFIG_BENCH_KNOWN_HOSTS_FILE":
                            str(self.home / ".ssh" / "known_hosts")})
            base = f"/{folder}" if self.name == "sftp" else str(s.root / folder)
            dest = f"bench:{base}/P/{ds.name}/{data.name}"
        return [args.rclone, "copy", str(data), dest, "--config", str(empty), "--transfers",
                str(args.workers), "--no-check-dest", *extra], env


# ---------------------------------------------------------------- one run

def server_cpu(pid: int) -> float:
    """CPU seconds of the server process and of its children it has reaped (sshd sessions)."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def count_files(folder: Path) -> tuple[int, int]:
    count = size = 0
    for dirpath, _, names in os.walk(folder):
        for n in names:
            count += 1
            size += os.stat(os.path.join(dirpath, n)).st_size
    return count, size


def one_run(args, target: Target, ds: DataSet, data: Path, tool: str, rnd: int,
            position: int, runs_dir: Path) -> Run:
    run = Run(tool, ds.name, rnd, position)
    folder = f"{ds.name}-r{rnd + 1}-{tool}"
    disk = target.make_folder(folder)
    target.restart()
    run_dir = runs_dir / f"{target.name}-{folder}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    if target.name.startswith("webdav"):  # the run's folder, as the server knows it
        requests.request("MKCOL", f"{target.server.url}/{folder}/", auth=("bench", "bench-pw"),
                         timeout=30)
    make = target.datauploader if tool == "datauploader" else target.rclone_copy
    cmd, env = make(args, folder, data, run_dir, ds)
    warm_and_sync(data)
    out_path = run_dir / "output.txt"
    with open(out_path, "wb") as out:
        before = server_cpu(target.pid)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        _, status, ru = os.wait4(proc.pid, 0)
        run.wall_s = time.perf_counter() - start
        run.server_cpu_s = server_cpu(target.pid) - before
    proc.returncode = run.exit_code = os.waitstatus_to_exitcode(status)
    run.user_s, run.sys_s = ru.ru_utime, ru.ru_stime
    run.cpu_s = ru.ru_utime + ru.ru_stime
    run.peak_rss_mib = ru.ru_maxrss / 1024
    run.server_rss_mib = psutil.Process(target.pid).memory_info().rss / MiB
    run.objects, run.object_bytes = count_files(disk)
    problems = []
    if run.exit_code != 0:
        tail = out_path.read_text(errors="replace").strip().splitlines()[-2:]
        problems.append(f"exit status {run.exit_code}: " + " | ".join(x[:200] for x in tail))
    if (run.objects, run.object_bytes) != (ds.count, ds.total_bytes):
        problems.append(f"the folder holds {run.objects} files / {run.object_bytes} bytes, "
                        f"expected {ds.count} / {ds.total_bytes}")
    run.ok = not problems
    run.problem = "; ".join(problems)
    run.mb_s = ds.total_bytes / run.wall_s / 1e6
    run.files_s = ds.count / run.wall_s
    shutil.rmtree(disk, ignore_errors=True)  # disk space; never read again
    if run.ok and not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return run


# ---------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Upload the same data with DataUploader and with "
                                "`rclone copy` to the same WebDAV and SFTP servers; report "
                                "throughput, CPU and memory side by side.")
    p.add_argument("--targets", default="webdav,sftp",
                   help=f"comma-separated, from {', '.join(TARGETS)} (default webdav,sftp)")
    p.add_argument("--checksum", default="sha256", choices=("sha256", "md5", "crc32", "adler32"),
                   help="DataUploader's checksum algorithm (default sha256)")
    p.add_argument("--verify", default="",
                   help="DataUploader's storage 'verify' setting (default: the backend's)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="another setting for DataUploader's storage section, e.g. "
                   "remote_checksum=md5 (repeatable)")
    p.add_argument("--sets", default="big,mid,small",
                   help="big (1 x 256 MiB), mid (1,000 x 256 KiB), small (5,000 x 4 KiB), "
                   "gib (1 x 1 GiB), one (1 x 4 KiB)")
    p.add_argument("--workers", type=int, default=8,
                   help="DataUploader workers = rclone --transfers (default 8)")
    p.add_argument("--repeat", type=int, default=3, help="rounds per tool and data set")
    p.add_argument("--workdir", type=Path, help="where data, servers and run folders go "
                   "(default: a temporary folder); existing data here is reused")
    p.add_argument("--json", type=Path, help="also write all results to this JSON file")
    p.add_argument("--keep", action="store_true", help="keep each run's folder")
    p.add_argument("--rclone", default=None, help="rclone binary (default: the venv's)")
    args = p.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    bad = [t for t in args.targets if t not in TARGETS] + [n for n in names if n not in DATA_SETS]
    if bad or not names or not args.targets:
        p.error(f"unknown target or data set: {bad}")
    if "sshd" in args.targets and sshd_unavailable():
        p.error(f"target sshd: {sshd_unavailable()}")
    args.data_sets = [DATA_SETS[n] for n in names]
    args.rclone = args.rclone or find_rclone()
    return args


def compile_bytecode() -> None:
    """Byte-compile DataUploader's modules, as an installed wheel has them (see above)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO_ROOT / "datauploader")],
                   check=True, stdout=subprocess.DEVNULL)


def main(argv=None) -> int:
    args = parse_args(argv)
    compile_bytecode()
    temp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="du-bench-dav-sftp-")) if temp else \
        args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    machine, machine_info = machine_line(args.rclone)
    log(machine)
    log(f"workdir {workdir}; workers/--transfers {args.workers}; repeat {args.repeat}; "
        f"targets {', '.join(args.targets)}; DataUploader checksum {args.checksum}, verify "
        f"{args.verify or 'default'}" + "".join(f", {o}" for o in args.option))
    runs_dir = workdir / "runs"
    sections = []
    all_runs: list[Run] = []
    started = time.monotonic()
    try:
        for name in args.targets:
            target = Target(name, workdir, args.rclone)
            try:
                for ds in args.data_sets:
                    data = ensure_data(workdir, ds)
                    runs: list[Run] = []
                    for rnd in range(args.repeat):
                        order = TOOLS if rnd % 2 == 0 else TOOLS[::-1]
                        for position, tool in enumerate(order):
                            run = one_run(args, target, ds, data, tool, rnd, position, runs_dir)
                            runs.append(run)
                            status = "ok" if run.ok else f"FAILED: {run.problem}"
                            log(f"  {name:<12} {ds.label:<16} round {rnd + 1} {tool:<13} "
                                f"{run.wall_s:7.2f} s {run.mb_s:8.1f} MB/s "
                                f"{run.files_s:7{rate_spec(run.files_s)}} files/s  CPU "
                                f"{run.cpu_s:6.2f} s  server CPU {run.server_cpu_s:6.2f} s  "
                                f"{status}")
                    all_runs += [r for r in runs]
                    sections.append((name, ds, [summarise(ds, t, runs) for t in TOOLS],
                                     round_ratios(runs), runs))
            finally:
                target.stop()
    finally:
        all_ok = bool(all_runs) and all(r.ok for r in all_runs)
        if not args.keep:
            for name in args.targets:
                shutil.rmtree(workdir / f"server-{name}", ignore_errors=True)
            if all_ok:
                shutil.rmtree(runs_dir, ignore_errors=True)
            if temp and all_ok:
                shutil.rmtree(workdir, ignore_errors=True)
    log("")
    log(machine)
    log(f"medians of {args.repeat} runs per tool, alternating which goes first; servers "
        f"restarted before each run; {args.workers} workers / --transfers; MB = 10^6 bytes; "
        "CPU s = user+sys of the tool and its children; busy = (tool + server CPU) / "
        f"(wall x cores); total time {time.monotonic() - started:.0f} s")
    for name in args.targets:
        log(f"\n== {name}")
        log(HEADER)
        for target_name, ds, summaries, ratios, _ in sections:
            if target_name == name:
                for row in table_rows(ds, summaries, ratios):
                    log(row)
    if args.json:
        doc = {"machine": machine_info,
               "settings": {"workers": args.workers, "repeat": args.repeat,
                            "checksum": args.checksum, "verify": args.verify or "default",
                            "options": args.option,
                            "targets": args.targets, "sets": [d.name for d in args.data_sets]},
               "summary": [{"target": t, "data_set": ds.name, "label": ds.label,
                            "tools": {s.tool: asdict(s) for s in summaries},
                            "ratio": (summaries[0].mb_s / summaries[1].mb_s
                                      if summaries[0].runs_ok and summaries[1].runs_ok else None),
                            "ratio_per_round": ratios,
                            "runs": [dict(asdict(r), busy=r.busy) for r in runs]}
                           for t, ds, summaries, ratios, runs in sections]}
        args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        log(f"results written to {args.json}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
