"""``demo``: a first upload with nothing configured — example files to the built-in local
profile (a folder and a catalogue in the user's data directory)."""

from __future__ import annotations

import datetime as dt
import os
import secrets

from datauploader.cli.commands.upload import cmd_upload
from datauploader.errors import ExitCode

FRAMES, FRAME_BYTES = 20, 64 * 1024


def cmd_demo(service, args, out, err) -> int:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    folder = os.path.join(service.paths.data_dir, "demo-data", f"scan-{stamp}")
    os.makedirs(os.path.join(folder, "frames"), exist_ok=True)
    for i in range(FRAMES):
        with open(os.path.join(folder, "frames", f"frame_{i:04d}.raw"), "wb") as f:
            f.write(secrets.token_bytes(FRAME_BYTES))
    with open(os.path.join(folder, "scan parameters #1.txt"), "w", encoding="utf-8") as f:
        f.write("energy = 12.4 keV\nexposure = 0.1 s\nsample = Lysozyme (tetragonal)\n")
    args.proposal, args.dataset = "DEMO-0001", f"scan-{stamp}"
    args.description = "Demonstration dataset created by 'datauploader demo'"
    args.dataset_type, args.sample = "raw", "lysozyme"
    args.keyword, args.meta = ["demo"], ["energy_keV=12.4", "exposure_s=0.1"]
    args.include, args.exclude, args.paths = [], [], [folder]
    args.workers = args.checksum = args.bwlimit = None
    args.dry_run, args.profile = False, "local"
    if not args.json:
        err.write(f"Created example files in {folder}\n")
    code = cmd_upload(service, args, out, err)
    if code == ExitCode.OK and not args.json:
        out.write(f"The files are in {service.storage('local').describe()}; the dataset is in "
                  f"the {service.catalogue('local').describe()}.\n"
                  "Try: datauploader jobs   ·   datauploader verify <job>\n")
    return code
