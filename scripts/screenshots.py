"""Render screenshots of each view of the real application (offscreen) for the README.

    python scripts/screenshots.py [--out docs/screenshots]

It runs the real main window on the built-in local profile in a throwaway home folder:
logs in, defines a dataset of example files, uploads it with a bandwidth limit so the
progress view is caught mid-job, then shows the history and the settings dialog.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pump(app, seconds: float = 0.0, until=None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + (timeout if until else seconds)
    while time.monotonic() < deadline:
        app.processEvents()
        if until is not None and until():
            return
        time.sleep(0.005)
    if until is not None:
        raise TimeoutError("the window did not get there in time")


def example_data(root: str) -> str:
    scan = os.path.join(root, "beamtime-2026-11", "lysozyme_scan_007")
    os.makedirs(os.path.join(scan, "frames"), exist_ok=True)
    for i in range(60):
        with open(os.path.join(scan, "frames", f"frame_{i:05d}.cbf"), "wb") as f:
            f.write(os.urandom(256 * 1024))
    with open(os.path.join(scan, "scan parameters.txt"), "w") as f:
        f.write("energy = 12.4 keV\nexposure = 0.1 s\n")
    with open(os.path.join(scan, "frames", "frame_00060.cbf.tmp"), "wb") as f:
        f.write(b"still being written")
    return scan


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "screenshots"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="du-screens-")
    home = os.path.join(work, "home")
    os.makedirs(os.path.join(home, "config"))
    with open(os.path.join(home, "config", "datauploader.ini"), "w") as f:
        f.write("[settings]\nbandwidth_limit = 3M\nworkers = 4\nsettle_time = 2\n")
    env = {"DATAUPLOADER_HOME": home, "DATAUPLOADER_SYSTEM_CONFIG": os.path.join(work, "none"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    scan = example_data(work)

    from PyQt5.QtWidgets import QApplication

    from datauploader.app.paths import resolve
    from datauploader.app.service import Service
    from datauploader.gui.dialogs.settings import SettingsDialog
    from datauploader.gui.mainwindow import MainWindow, app_icon

    app = QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    service = Service.open(resolve(env), [], env)
    w = MainWindow(service, tray=False)
    w.resize(1180, 760)
    w.show()

    def save(widget, name):
        path = os.path.join(args.out, name)
        widget.grab().save(path)
        print("wrote", path)

    pump(app, until=w.login.button.isEnabled)
    save(w, "login.png")
    w.login.log_in()
    pump(app, until=w.nav.isEnabled)

    d = w.dataset
    # a catalogue with a couple of proposals to pick from
    cat = service.catalogue("local")
    cat.create_investigation("MX-2026-0415", "Lysozyme in-situ crystallography")
    cat.create_investigation("MX-2026-0422", "Membrane proteins, room temperature")
    d.load_investigations()
    pump(app, 0.3)
    d.proposal.setEditText("MX-2026-0415")
    d.name.setText("lysozyme_scan_007")
    d.description.setPlainText("Room-temperature dataset, 60 frames, 0.1 s exposure")
    d.sample.setText("lysozyme (tetragonal)")
    d.keywords.setText("MX, lysozyme, in-situ")
    d.add_metadata_row("energy_keV", "12.4")
    d.add_metadata_row("detector", "EIGER2 X 16M")
    d.exclude.setText("*.tmp")
    planned = []
    d.plan_ready.connect(planned.append)
    d.add_paths([scan])
    pump(app, until=lambda: planned and planned[-1] is not None)
    pump(app, 0.2)
    save(w, "dataset.png")

    finished = []
    w.controller.job_finished.connect(finished.append)
    d.request_start()
    pump(app, until=lambda: w.progress.last is not None and 0.4 < w.progress.last.fraction < 0.7,
         timeout=120)
    save(w, "progress.png")
    pump(app, until=lambda: finished, timeout=300)
    pump(app, 0.3)

    w.show_page(3)
    pump(app, 0.3)
    save(w, "history.png")

    # sync mode: a folder the "instrument" keeps writing into
    live = os.path.join(work, "beamtime-2026-11", "lysozyme_live_008")
    os.makedirs(live)
    stop = []

    def instrument():
        i = 0
        while not stop and i < 400:
            with open(os.path.join(live, f"frame_{i:05d}.cbf"), "wb") as f:
                f.write(os.urandom(64 * 1024))
            i += 1
            time.sleep(0.25)

    import threading
    writer = threading.Thread(target=instrument, daemon=True)
    writer.start()
    w.show_page(1)
    d.proposal.setEditText("MX-2026-0415")
    d.name.setText("lysozyme_live_008")
    d.files.clear()
    planned.clear()
    d.add_paths([live])
    d.mode_sync.setChecked(True)
    pump(app, until=lambda: planned and planned[-1] is not None)
    finished.clear()
    d.request_start()
    pump(app, until=lambda: w.progress.last is not None and w.progress.last.sync is not None
         and w.progress.last.sync.uploaded >= 12, timeout=120)
    pump(app, 0.3)
    save(w, "sync.png")
    stop.append(True)
    writer.join()
    w.controller.finish()
    pump(app, until=lambda: finished, timeout=120)

    dlg = SettingsDialog(service, "local", w)
    dlg.show()
    pump(app, 0.3)
    save(dlg, "settings.png")
    dlg.close()
    w.controller.shutdown()
    service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
