"""GUI tests: real widgets driven with pytest-qt, offscreen, against real backends."""

import os

import pytest  # noqa: E402

from datauploader.app.paths import resolve  # noqa: E402
from datauploader.app.service import Service  # noqa: E402
from tests.integration.conftest import s3_config  # noqa: E402,F401

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")




@pytest.fixture
def gui_env(tmp_path):
    return {"DATAUPLOADER_HOME": str(tmp_path / "home"),
            "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "no-system.ini"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}


@pytest.fixture
def make_window(qtbot, gui_env):
    """``make_window(config_files=(), env=None)`` → a MainWindow on a fresh Service; closed
    (job thread stopped) at the end of the test."""
    from datauploader.gui.mainwindow import MainWindow

    made = []

    def make(config_files=(), env=None):
        service = Service.open(resolve({**gui_env, **(env or {})}), list(config_files),
                               {**gui_env, **(env or {})})
        w = MainWindow(service, tray=False)
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        if w.controller.running:
            w.controller.cancel()
        w.controller.shutdown()
        w.service.close()


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "acq" / "scan_001"
    (root / "frames").mkdir(parents=True)
    for i in range(12):
        (root / "frames" / f"f_{i:03d}.raw").write_bytes(os.urandom(20_000 + i))
    (root / "notes #1.txt").write_text("energy 12.4 keV\n")
    (root / "skip.tmp").write_bytes(b"temporary")
    return root
