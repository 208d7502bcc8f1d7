"""A job's report: every file with its size, checksum and remote location, as CSV or JSON.

Written from the journal, so it tells what is where, whatever the front-end."""

from __future__ import annotations

import csv
import json

from datauploader.core.journal import Journal

COLUMNS = ("name", "local_path", "size", "algorithm", "checksum", "state", "location", "key",
           "verified_by", "datafile_id", "attempts", "error")


def report_rows(journal: Journal, job_id: int):
    for t in journal.iter_tasks(job_id):
        yield {"name": t.relpath, "local_path": t.path, "size": t.size,
               "algorithm": t.algorithm or "", "checksum": t.checksum or "",
               "state": t.state.value, "location": t.location or "", "key": t.key,
               "verified_by": t.verified_by or "", "datafile_id": t.datafile_id or "",
               "attempts": t.attempts, "error": t.error or ""}


def write_report(journal: Journal, job_id: int, path: str) -> int:
    """Write the report (CSV unless the name ends in .json); returns the number of files."""
    job = journal.job(job_id)
    rows = report_rows(journal, job_id)
    n = 0
    if path.lower().endswith(".json"):
        files = list(rows)
        n = len(files)
        doc = {"job": job.id, "state": job.state.value, "proposal": job.proposal,
               "dataset": job.dataset_name, "dataset_id": job.dataset_id,
               "catalogue": job.catalogue, "storage": job.storage, "prefix": job.prefix,
               "created": job.created, "finished": job.finished, "files": files}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=2)
        return n
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow(row)
            n += 1
    return n
