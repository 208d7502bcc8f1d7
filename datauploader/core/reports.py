"""A job as one document: its header, what a run of it did, and one row per file.

The same fields wherever a job is shown to a script or kept: ``jobs --json`` (the header per
job; one job with its files), ``upload/resume/finish --json`` (with the run's outcome) and the
exported report (JSON: the document; CSV: the file rows, one column per field). Times are
ISO 8601 in UTC with the offset; missing values are null (empty in CSV).
"""

from __future__ import annotations

import csv
import json

from datauploader.core.journal import JobRecord, Journal, TaskRecord
from datauploader.events import JobDone
from datauploader.states import JobState
from datauploader.units import iso_time

#: the fields of each file's row, in the order of the CSV columns
FILE_FIELDS = ("name", "local_path", "size", "algorithm", "checksum", "state", "location", "key",
               "verified_by", "datafile_id", "attempts", "retries", "error")


def job_header(job: JobRecord, state: JobState | None = None) -> dict:
    """What the job is and where it stands; ``state``: as the service judges it (a RUNNING job
    that no process holds is INTERRUPTED), else the journal's."""
    return {"job": job.id, "uuid": job.uuid, "state": (state or job.state).value,
            "mode": str(job.definition.mode), "profile": job.profile,
            "catalogue": job.catalogue, "storage": job.storage, "prefix": job.prefix,
            "proposal": job.proposal, "dataset": job.dataset_name,
            "dataset_id": job.dataset_id, "created": iso_time(job.created),
            "finished": iso_time(job.finished), "files_total": job.files_total,
            "bytes_total": job.bytes_total, "options": dict(job.options), "error": job.error}


def run_outcome(done: JobDone) -> dict:
    """What one run did (upload, resume, finish); its state and error are the job's now."""
    return {"state": done.state.value, "error": done.error, "files_ok": done.files_ok,
            "files_failed": done.files_failed, "bytes_done": done.bytes_done,
            "bytes_sent": done.bytes_sent, "files_left_out": done.files_left_out,
            "elapsed": round(done.elapsed, 3),
            "exit_code": int(done.exit_code)}


def file_row(t: TaskRecord, retries: int = 0) -> dict:
    """``attempts``: how often the file was started; ``retries``: how many requests for it
    failed and were tried again (a part of a large file counts on its own)."""
    return {"name": t.relpath, "local_path": t.path, "size": t.size, "algorithm": t.algorithm,
            "checksum": t.checksum, "state": t.state.value, "location": t.location,
            "key": t.key, "verified_by": t.verified_by, "datafile_id": t.datafile_id,
            "attempts": t.attempts, "retries": retries, "error": t.error}


def job_document(journal: Journal, job_id: int, state: JobState | None = None,
                 done: JobDone | None = None) -> dict:
    """The header, the run's outcome when there was one (``done``), and every file."""
    doc = job_header(journal.job(job_id), state)
    if done is not None:
        doc.update(run_outcome(done))
    retries = journal.retries(job_id)
    doc["files"] = [file_row(t, retries.get(t.id, 0)) for t in journal.iter_tasks(job_id)]
    return doc


def write_report(journal: Journal, job_id: int, path: str,
                 state: JobState | None = None) -> int:
    """Write the report (CSV unless the name ends in .json); returns the number of files."""
    if path.lower().endswith(".json"):
        doc = job_document(journal, job_id, state)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=2)
        return len(doc["files"])
    journal.job(job_id)  # an unknown job is an error, not an empty report
    n = 0
    retries = journal.retries(job_id)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FILE_FIELDS)
        w.writeheader()
        for t in journal.iter_tasks(job_id):
            w.writerow(file_row(t, retries.get(t.id, 0)))
            n += 1
    return n
