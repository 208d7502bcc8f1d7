"""GUI responsiveness during a large upload: the longest event-loop stall and peak memory.

The real main window runs (offscreen by default) and is driven as a user would: log in,
define a dataset of N small files (default 20,000 × 4 KiB), start, wait for the end. A timer
that should fire every 5 ms measures how late the event loop serves it; the longest delay is
the longest time the window could not react (a "stall"). Peak RSS is sampled every 100 ms.

    python benchmarks/gui_responsiveness.py                 # local profile (folder + embedded catalogue)
    python benchmarks/gui_responsiveness.py --s3            # to a real rclone serve s3 on loopback
    python benchmarks/gui_responsiveness.py --files 2000 --size 65536

Phases are reported separately: scanning the folder (background thread), creating the job,
uploading, and the end (history refresh, final rows).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def make_data(folder: str, n: int, size: int) -> None:
    marker = folder + ".complete"  # beside the folder, not in it
    if os.path.exists(marker):
        return
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        sub = os.path.join(folder, f"batch_{i // 1000:03d}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"frame_{i:06d}.raw"), "wb") as f:
            f.write(os.urandom(size))
    open(marker, "w").close()


class StallMeter:
    """Measures how late a 5 ms timer is served, per phase."""

    def __init__(self, interval_ms: int = 5):
        from PyQt5.QtCore import QTimer

        self.interval = interval_ms / 1000
        self.phase = "start"
        self.gaps: dict[str, list[float]] = {}
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.setdefault(self.phase, []).append(now - self._last - self.interval)
        self._last = now

    def set_phase(self, name: str) -> None:
        self._tick()
        self.phase = name


class MemoryMeter:
    def __init__(self):
        import psutil
        from PyQt5.QtCore import QTimer

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.timer = QTimer()
        self.timer.setInterval(100)
        self.timer.timeout.connect(self.sample)
        self.timer.start()

    def sample(self) -> None:
        self.peak = max(self.peak, self.proc.memory_info().rss)


def wait_until(app, predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        app.processEvents()
        time.sleep(0.001)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "du-gui-bench"))
    ap.add_argument("--s3", action="store_true", help="upload to rclone serve s3 on loopback")
    ap.add_argument("--show", action="store_true", help="use the real display, not offscreen")
    args = ap.parse_args()
    if not args.show:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    data = os.path.join(args.workdir, f"data-{args.files}x{args.size}")
    print(f"generating {args.files:,} x {args.size:,} bytes in {data} …", flush=True)
    make_data(data, args.files, args.size)
    home = tempfile.mkdtemp(prefix="home-", dir=args.workdir)
    env = {"DATAUPLOADER_HOME": home, "DATAUPLOADER_SYSTEM_CONFIG": os.path.join(home, "none"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    configs = []
    server = None
    if args.s3:
        from tests.servers.rclone_s3 import RcloneS3Server

        server = RcloneS3Server(os.path.join(home, "s3")).start()
        bucket = server.create_bucket()
        cfg = os.path.join(home, "s3.ini")
        with open(cfg, "w") as f:
            f.write(f"[settings]\ndefault_profile = s3\n[profile:s3]\ncatalogue = local\n"
                    f"storage = s3t\n[storage:s3t]\ntype = s3\nendpoint_url = "
                    f"{server.endpoint_url}\nbucket = {bucket}\n")
        configs.append(cfg)
        env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key)

    from PyQt5.QtWidgets import QApplication

    from datauploader.app.paths import resolve
    from datauploader.app.service import Service
    from datauploader.gui.mainwindow import MainWindow

    if os.environ.get("SWITCH"):
        sys.setswitchinterval(float(os.environ["SWITCH"]))
    app = QApplication(sys.argv[:1])
    service = Service.open(resolve(env), configs, env)
    window = MainWindow(service, tray=False)
    window.show()
    memory = MemoryMeter()
    stalls = StallMeter()
    try:
        stalls.set_phase("login")
        wait_until(app, lambda: window.login.button.isEnabled(), 60)
        window.login.log_in()
        wait_until(app, lambda: window.nav.isEnabled(), 60)

        stalls.set_phase("scan")
        t0 = time.perf_counter()
        planned = []
        window.dataset.plan_ready.connect(lambda p: planned.append(p))
        window.dataset.proposal.setEditText("BENCH-1")
        window.dataset.name.setText("gui responsiveness")
        window.dataset.add_paths([data])
        wait_until(app, lambda: planned and planned[-1] is not None and
                   len(planned[-1].plan.files) == args.files, 600)
        scan_s = time.perf_counter() - t0

        stalls.set_phase("upload")
        done = []
        window.controller.job_finished.connect(lambda d: done.append(d))
        t0 = time.perf_counter()
        window.dataset.request_start()
        wait_until(app, lambda: done, 3600)
        upload_s = time.perf_counter() - t0
        stalls.set_phase("end")
        t1 = time.perf_counter()
        while time.perf_counter() - t1 < 1.0:  # the end of the job, history refresh
            app.processEvents()
            time.sleep(0.001)
        stalls.set_phase("done")
    finally:
        window.controller.shutdown()
        service.close()
        if server is not None:
            server.stop()
    result = done[0]
    print(f"\njob {result.job_id}: {result.state}, {result.files_ok:,} files in {upload_s:.1f} s "
          f"({result.files_ok / upload_s:,.0f} files/s); scan of the folder {scan_s:.1f} s; "
          f"target {'S3 (rclone serve s3)' if args.s3 else 'local profile (folder + embedded catalogue)'}")
    print(f"{'phase':<8} {'ticks':>7} {'longest stall':>14} {'p99':>9} {'median':>9}")
    for phase in ("login", "scan", "upload", "end"):
        gaps = stalls.gaps.get(phase, [0.0])
        p99 = sorted(gaps)[int(0.99 * (len(gaps) - 1))]
        print(f"{phase:<8} {len(gaps):>7} {max(gaps) * 1000:>11.1f} ms {p99 * 1000:>6.1f} ms "
              f"{statistics.median(gaps) * 1000:>6.1f} ms")
    every = [g for p in ("login", "scan", "upload", "end") for g in stalls.gaps.get(p, [])]
    print(f"longest event-loop stall overall: {max(every) * 1000:.1f} ms; "
          f"peak RSS {memory.peak / 2**20:.0f} MiB")
    return 0 if result.state == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
