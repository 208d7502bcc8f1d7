"""A job's options live in the journal and apply on every resume unless overridden."""

from datauploader.app.paths import resolve
from datauploader.app.service import Service
from datauploader.core.models import DatasetDefinition


def test_resume_keeps_the_jobs_workers_and_bandwidth_limit(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "a.bin").write_bytes(b"a")
    env = {"DATAUPLOADER_HOME": str(tmp_path / "home"),
           "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini")}
    service = Service.open(resolve(env), env=env)
    try:
        d = DatasetDefinition(proposal="P", name="D", paths=[str(tmp_path / "run")])
        job_id = service.create_job(d, "local", options={"workers": 2, "bandwidth_limit": "5M",
                                                         "checksum": "md5"})
        job = service.journal.job(job_id)
        opts = service.job_options(job, {"workers": None, "bandwidth_limit": None})
        settings = service.engine_settings(job.profile, opts)
        assert (settings.workers, settings.bandwidth_limit, settings.checksum) == (2, "5M", "md5")
        # an override applies now and is remembered; the checksum never changes
        service.job_options(job, {"workers": 4, "checksum": "sha256"})
        job = service.journal.job(job_id)
        settings = service.engine_settings(job.profile, service.job_options(job, {}))
        assert (settings.workers, settings.bandwidth_limit, settings.checksum) == (4, "5M", "md5")
    finally:
        service.close()
