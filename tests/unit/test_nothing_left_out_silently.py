"""Every file that should have gone and did not is a failed file of the job: the dataset stays
incomplete until the cause is fixed and the job resumed, or the operator leaves it out."""

import os

import pytest

from datauploader.app.paths import resolve
from datauploader.app.service import Service
from datauploader.core.models import DatasetDefinition, JobState, TaskState
from datauploader.errors import ExitCode, InputError


@pytest.fixture
def service(tmp_path):
    env = {"DATAUPLOADER_HOME": str(tmp_path / "home"),
           "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini")}
    s = Service.open(resolve(env), env=env)
    yield s
    s.close()


def _too_deep(folder: str) -> None:
    """A file whose path is longer than the OS allows (made relative to open folders)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(25):
            os.mkdir("d" * 200, dir_fd=fd)
            nfd = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        os.close(os.open("far.bin", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)


def test_what_cannot_be_planned_fails_the_job_until_left_out(service, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "ok.bin").write_bytes(b"ok")
    _too_deep(str(run))
    d = DatasetDefinition(proposal="P", name="D", paths=[str(run)])
    job_id = service.create_job(d, "local")
    done = service.run_job(job_id)
    assert (done.state, done.exit_code) == (JobState.INCOMPLETE.value, ExitCode.INCOMPLETE)
    assert done.files_ok == 1 and done.files_failed == 1
    (t,) = service.journal.tasks(job_id, [TaskState.UNPLANNED])
    assert "longer than the operating system allows" in t.error
    cat = service.catalogue("local")
    ds = cat.get_dataset(service.journal.job(job_id).dataset_id)
    assert not ds.complete  # never finalized with a file missing

    # a resume scans it again: still too long, still failed
    done = service.run_job(job_id)
    assert done.state == JobState.INCOMPLETE.value and done.files_failed == 1

    # the operator's decision, recorded; then the dataset completes without it
    with pytest.raises(InputError, match="no failed file named"):
        service.leave_out(job_id, ["run/ok.bin"])
    assert service.leave_out(job_id) == [t.relpath]
    done = service.run_job(job_id)
    assert done.state == JobState.COMPLETED.value and done.files_left_out == 1
    assert cat.get_dataset(ds.id).complete
    events = [e["event"] for e in service.journal.job_events(job_id)]
    assert "left out" in events


@pytest.mark.parametrize("exclude", [[], ["*"]])
def test_an_empty_selection_is_refused(service, tmp_path, exclude):
    run = tmp_path / "run"
    run.mkdir()
    if exclude:
        (run / "x.bin").write_bytes(b"x")
    d = DatasetDefinition(proposal="P", name="D", paths=[str(run)], exclude=exclude)
    with pytest.raises(InputError, match="nothing to upload") as e:
        service.create_job(d, "local")
    assert e.value.exit_code == ExitCode.USAGE
    assert service.journal.jobs() == []
