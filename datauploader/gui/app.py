"""Starting the desktop application: ``datauploader`` with no arguments, or ``datauploader gui``."""

from __future__ import annotations

import logging
import os
import sys
import time

from PyQt5.QtCore import QLibraryInfo, QLocale, QTranslator
from PyQt5.QtWidgets import QApplication, QMessageBox

from datauploader import __version__
from datauploader.errors import ExitCode, UserFacingError, describe

log = logging.getLogger(__name__)

I18N = os.path.join(os.path.dirname(__file__), "i18n")


def install_translators(app: QApplication) -> list[QTranslator]:
    """Qt's own strings and ours in the user's language, where a translation exists (English
    is built in: every string goes through tr())."""
    out = []
    locale = QLocale.system()
    qt = QTranslator(app)
    if qt.load(locale, "qtbase", "_", QLibraryInfo.location(QLibraryInfo.TranslationsPath)):
        app.installTranslator(qt)
        out.append(qt)
    ours = QTranslator(app)
    if ours.load(locale, "datauploader", "_", I18N):
        app.installTranslator(ours)
        out.append(ours)
    return out


def main(argv: list[str] | None = None, env=None, config_files=(), profile: str | None = None,
         smoke_test: bool = False) -> int:
    """Run the application. ``smoke_test``: show the window, report how long after the
    process started it became visible, close it cleanly (installers and CI use this)."""
    from datauploader.app.logs import configure_logging
    from datauploader.app.paths import resolve
    from datauploader.app.service import Service
    from datauploader.gui import excepthook
    from datauploader.gui.mainwindow import MainWindow, app_icon

    argv = list(sys.argv if argv is None else argv)
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("DataUploader")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("DataUploader")
    app.setDesktopFileName("datauploader")
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(True)
    install_translators(app)
    paths = resolve(env)
    try:
        service = Service.open(paths, config_files, env)
    except UserFacingError as e:
        QMessageBox.critical(None, "DataUploader", describe(e))
        return e.exit_code
    log_file = configure_logging(paths, str(service.config.effective_settings()["log_level"]))
    excepthook.install(log_file)
    log.info("DataUploader %s GUI started", __version__)
    window = MainWindow(service)
    if profile:
        i = window.login.profile.findData(profile)
        if i >= 0:
            window.login.profile.setCurrentIndex(i)
    window.show()
    if smoke_test:
        from PyQt5.QtCore import QTimer

        def report():
            import psutil
            started = psutil.Process().create_time()
            print(f"window visible {time.time() - started:.2f} s after the process started; "
                  f"keyring: {service.secrets.backend_name}", flush=True)
            window.close()

        QTimer.singleShot(0, report)
    try:
        return app.exec_()
    finally:
        window.controller.shutdown()
        service.close()


def _no_display() -> bool:
    """Linux without X11 or Wayland: Qt would abort the process with a cryptic message."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_from_cli(args) -> int:
    if _no_display():
        sys.stderr.write("error: there is no display to open the DataUploader window on (no "
                         "DISPLAY or WAYLAND_DISPLAY). Use the command line instead — "
                         "'datauploader demo' uploads example files, 'datauploader --help' "
                         "lists the commands — or run it in a desktop session.\n")
        return ExitCode.USAGE
    try:
        return main(env=None, config_files=args.config, profile=getattr(args, "profile", None),
                    smoke_test=getattr(args, "smoke_test", False))
    except Exception as e:  # noqa: BLE001 - e.g. no display
        sys.stderr.write(f"error: the desktop window cannot start: {describe(e)}\n")
        return ExitCode.ERROR
