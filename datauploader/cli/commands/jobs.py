"""``jobs``: the journal's jobs, newest first, or one job with its files. ``--json`` prints
the job document (core/reports.py): the header of each job, or one job with its files."""

from __future__ import annotations

from datauploader.cli.output import write_json
from datauploader.core.models import FAILED_STATES
from datauploader.errors import ExitCode, InputError
from datauploader.units import human_bytes, local_time


def cmd_jobs(service, args, out, err) -> int:
    if args.limit < 1:
        raise InputError(f"--limit {args.limit}: give 1 or more (the newest jobs first).")
    if args.job is not None:
        return _show_job(service, args, out)
    if args.json:
        write_json(out, service.job_headers(args.limit))
        return ExitCode.OK
    rows = service.jobs(args.limit)
    if not rows:
        out.write("No jobs yet.\n")
        return ExitCode.OK
    out.write(f"{'JOB':>5}  {'STATE':<11}  {'CREATED':<16}  {'FILES':>7}  {'SIZE':>10}  "
              "PROPOSAL / DATASET\n")
    for j, s in rows:
        out.write(f"{j.id:>5}  {s.value:<11}  {local_time(j.created):<16}  {j.files_total:>7}  "
                  f"{human_bytes(j.bytes_total):>10}  {j.proposal} / {j.dataset_name}\n")
    return ExitCode.OK


def _show_job(service, args, out) -> int:
    if args.json:
        write_json(out, service.job_document(args.job))
        return ExitCode.OK
    journal = service.journal
    job = journal.job(args.job)
    state = service.job_state(job)
    counts = journal.counts(job.id)
    out.write(f"Job {job.id}  {state.value}\n"
              f"  dataset   {job.proposal} / {job.dataset_name} (catalogue id "
              f"{job.dataset_id or '-'})\n"
              f"  profile   {job.profile}\n  catalogue {job.catalogue}\n"
              f"  storage   {job.storage}, prefix {job.prefix}\n"
              f"  created   {local_time(job.created)}   finished {local_time(job.finished)}\n"
              f"  files     {job.files_total} ({human_bytes(job.bytes_total)}): "
              + ", ".join(f"{n} {s}" for s, n in sorted(counts.files.items())) + "\n")
    if job.error:
        out.write(f"  error     {job.error}\n")
    for t in journal.tasks(job.id, FAILED_STATES):
        out.write(f"  FAILED  {t.relpath}: {t.error}\n")
    return ExitCode.OK
