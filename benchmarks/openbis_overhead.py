#!/usr/bin/env python3
"""What openBIS registration and metadata extraction add to a job: 2,000 small instrument
files (CSV with a header) to a folder, registered in the embedded catalogue (the baseline),
in the embedded catalogue with the csv parser run on every file, or in openBIS (the emulator
of ``tests/servers/``) as one linked dataset with every file's path info, the csv parser's
metadata as its properties.

Method: each run is the command a user types, as a child process with a fresh
``DATAUPLOADER_HOME`` and a fresh target folder (``filesystem`` storage, so that the storage
is the same cheap one for every variant and what differs is the catalogue and the parser);
the variants run in turn in each round, the order rotating; medians of ``--repeat`` rounds.
Measured: the wall time of the child process, and the ratio to the baseline's. The emulator
(instance admin, so the DSS's createDataSets with path info is used) is reset between runs.
Checked: exit status 0 and, for openBIS, one dataset holding every file.

Usage: ``python benchmarks/openbis_overhead.py [--files 2000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers.http_emulator import EmulatorProcess  # noqa: E402

VARIANTS = ("local", "local+parser", "openbis+parser")


def make_data(folder: Path, files: int) -> Path:
    root = folder / "run"
    if not root.exists():
        root.mkdir(parents=True)
        for i in range(files):
            (root / f"scan{i:05d}.csv").write_text(
                f"# frames: {i % 50}\n# operator: ada\ntime (s),counts\n" + "0.1,5\n" * 200)
    return root


def config(work: Path, variant: str, url: str) -> Path:
    path = work / f"{variant}.ini"
    cat = ("[catalogue:cat]\ntype = openbis\nurl = " + url + "\nedms_type = file_system\n"
           "edms_address = bench:/data\n") if variant.startswith("openbis") else \
        "[catalogue:cat]\ntype = local\n"
    mapping = work / "keys.yaml"
    mapping.write_text("frames: FRAMES\noperator: null\ncolumns: null\n'column/*': null\n")
    path.write_text(f"[settings]\ndefault_profile = p\nmetadata_mapping = {mapping}\n"
                    "[profile:p]\ncatalogue = cat\nstorage = st\n" + cat +
                    f"[storage:st]\ntype = filesystem\npath = {work / 'target'}\n")
    return path


def run_one(variant: str, data: Path, work: Path, server: EmulatorProcess) -> float:
    home = work / "home"
    for d in (home, work / "target"):
        shutil.rmtree(d, ignore_errors=True)
    (work / "target").mkdir()
    server.control("reset")
    argv = [sys.executable, "-m", "datauploader", "--config", str(config(work, variant,
                                                                        server.url)),
            "upload", "--proposal", "/MATERIALS/ALLOYS/XRD_2026", "--dataset", "d",
            "--type", "XRD_DATA" if variant.startswith("openbis") else "raw", "--json"]
    if "parser" in variant:
        argv += ["--parser", "csv"]
    if variant.startswith("openbis"):
        argv += ["--meta", "INSTRUMENT=XRD-7", "--username", "admin"]
    env = {**os.environ, "DATAUPLOADER_HOME": str(home), "DATAUPLOADER_PASSWORD": "admin",
           "DATAUPLOADER_SYSTEM_CONFIG": str(work / "none.ini"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    started = time.perf_counter()
    p = subprocess.run(argv + [str(data)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if p.returncode != 0:
        raise SystemExit(f"{variant} FAILED: {p.stderr[-2000:]}")
    doc = json.loads(p.stdout)
    if variant.startswith("openbis"):
        state = server.control("state")
        files = state["files"].get(doc["dataset_id"], [])
        assert len(state["datasets"]) == 1 and sum(not f["directory"] for f in files) == \
            doc["files_total"], "openBIS does not hold every file"
    return wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="openbis-bench-"))
    try:
        data = make_data(work, args.files)
        with EmulatorProcess("tests.servers.openbis_emulator", work / "emulator") as server:
            walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
            for r in range(args.repeat):
                order = VARIANTS[r % 3:] + VARIANTS[:r % 3]
                for v in order:
                    walls[v].append(run_one(v, data, work, server))
        base = statistics.median(walls["local"])
        print(f"{args.files} files, medians of {args.repeat} rounds")
        for v in VARIANTS:
            m = statistics.median(walls[v])
            print(f"{v:16} {m:6.2f} s  ratio {m / base:4.2f}  rounds "
                  + " ".join(f"{w:.2f}" for w in walls[v]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
