"""Runs one upload job at a time on a worker object moved to a QThread (Qt's documented
pattern), and turns the engine's progress into immutable snapshots for the views, at most
ten per second. Widgets are never touched from the worker."""

from __future__ import annotations

import logging

from PyQt5.QtCore import QObject, QThread, QTimer, pyqtSignal, pyqtSlot

from datauploader.core.controls import JobControls
from datauploader.core.progress import ProgressTracker

log = logging.getLogger(__name__)


class JobWorker(QObject):
    """Lives on the job thread; ``run`` blocks that thread for the whole job."""

    job_done = pyqtSignal(object)  # events.JobDone
    job_error = pyqtSignal(object)  # an exception raised before the job could run

    def __init__(self, service):
        super().__init__()
        self.service = service

    @pyqtSlot(int, object, object)
    def run(self, job_id: int, tracker: ProgressTracker, controls: JobControls) -> None:
        try:
            done = self.service.run_job(job_id, [tracker], controls)
        except BaseException as e:  # noqa: BLE001 - reported to the GUI thread
            log.exception("job %s could not run", job_id)
            self.job_error.emit(e)
        else:
            self.job_done.emit(done)


class JobController(QObject):
    job_started = pyqtSignal(int)
    job_progress = pyqtSignal(object)  # JobSnapshot
    job_finished = pyqtSignal(object)  # JobDone
    job_failed = pyqtSignal(int, object)  # job id, exception (could not run at all)

    _run_requested = pyqtSignal(int, object, object)

    def __init__(self, service, thread: QThread | None = None, parent=None,
                 interval_ms: int = 100):
        super().__init__(parent)
        self.service = service
        self.thread = thread or QThread()
        self.thread.setObjectName("job-thread")
        self.worker = JobWorker(service)
        self.worker.moveToThread(self.thread)
        self.thread.finished.connect(self.worker.deleteLater)
        self._run_requested.connect(self.worker.run)
        self.worker.job_done.connect(self._on_worker_job_done)
        self.worker.job_error.connect(self._on_worker_job_error)
        self.thread.start()
        self.job_id: int | None = None
        self.tracker: ProgressTracker | None = None
        self.controls: JobControls | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._poll)

    @property
    def running(self) -> bool:
        return self.job_id is not None

    def start(self, job_id: int) -> None:
        if self.running:
            raise RuntimeError("a job is already running")
        self.job_id = job_id
        self.tracker = ProgressTracker()
        self.controls = JobControls()
        self._run_requested.emit(job_id, self.tracker, self.controls)
        self._timer.start()
        self.job_started.emit(job_id)

    def pause(self) -> None:
        if self.controls:
            self.controls.pause()

    def resume(self) -> None:
        if self.controls:
            self.controls.resume()

    def cancel(self) -> None:
        if self.controls:
            self.controls.cancel()

    def finish(self) -> None:
        """Sync mode: last scan, upload what remains, finalize the dataset."""
        if self.controls:
            self.controls.finish()

    @property
    def paused(self) -> bool:
        return bool(self.controls and self.controls.paused)

    @pyqtSlot()
    def _poll(self) -> None:
        if self.tracker is not None:
            self.job_progress.emit(self.tracker.snapshot())

    @pyqtSlot(object)
    def _on_worker_job_done(self, done) -> None:
        self._timer.stop()
        self._poll()  # the last snapshot, with the final rows
        self._reset()
        self.job_finished.emit(done)

    @pyqtSlot(object)
    def _on_worker_job_error(self, exc) -> None:
        self._timer.stop()
        job_id = self.job_id
        self._reset()
        self.job_failed.emit(job_id, exc)

    def _reset(self) -> None:
        self.job_id = None
        self.controls = None

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel a running job, stop the thread; True if it ended within the timeout."""
        if self.controls:
            self.controls.cancel()
        self.thread.quit()
        ok = self.thread.wait(timeout_ms)
        if not ok:
            log.warning("the job thread did not stop within %d ms", timeout_ms)
        return ok
