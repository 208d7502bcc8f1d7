"""The commands that run a job: ``upload`` (a batch dataset), ``watch`` (sync mode: during
the acquisition), ``finish`` (end a sync-mode job) and ``resume``. With ``--json`` each prints
the job document (core/reports.py) with the run's outcome."""

from __future__ import annotations

from datauploader.app import settings as S
from datauploader.cli.commands.hostkeys import confirm_host_key
from datauploader.cli.commands.login import log_in
from datauploader.cli.output import write_json
from datauploader.cli.runner import JobRunner
from datauploader.core.models import FAILED_STATES, DatasetDefinition, Mode
from datauploader.errors import ExitCode, InputError, UsageError
from datauploader.events import JobDone
from datauploader.states import JobState
from datauploader.units import human_bytes, human_duration, human_rate

FAILED_SHOWN = 20  # failed files listed at the end; the rest: 'datauploader jobs JOB'


def _meta(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--meta '{item}' should be KEY=VALUE.")
        out[key.strip()] = value
    return out


def _overrides(args) -> dict:
    """This run's settings from the command line (None: not given)."""
    for option, setting in (("workers", "workers"), ("bwlimit", "bandwidth_limit"),
                            ("settle", "settle_time")):
        value = getattr(args, option, None)
        if value is not None:
            try:  # the bounds and grammar the configuration file has
                S.BY_NAME[setting].parse(str(value))
            except ValueError as e:
                raise InputError(f"--{option}: {e}.") from None
    bwlimit = getattr(args, "bwlimit", None)
    return {"workers": getattr(args, "workers", None), "bandwidth_limit": bwlimit,
            "checksum": getattr(args, "checksum", None), "links": getattr(args, "links", None),
            "settle_time": getattr(args, "settle", None),
            "sync_on_modified": getattr(args, "on_modified", None),
            "sync_observer": getattr(args, "observer", None)}


def _report_plan(plan, err) -> None:
    """Before anything moves: what will not go, and why."""
    for w in plan.warnings:
        err.write(f"warning: {w}\n")
    for d in plan.links_not_followed:
        err.write(f"notice: link not followed: {d.path} → {d.target} ({d.why})\n")
    for u in plan.unplanned:
        err.write(f"warning: {u.reason}\n")


def _dry_run(prepared, args, out, metadata: dict) -> int:
    plan = prepared.plan
    if args.json:
        write_json(out, {
            "metadata": metadata,
            "files": [{"name": f.relpath, "local_path": f.path, "key": f.key, "size": f.size}
                      for f in plan.files],
            "total_bytes": plan.total_bytes, "storage": prepared.storage.describe(),
            "links": [{"path": d.path, "target": d.target, "followed": d.followed,
                       "why": d.why} for d in plan.links],
            "unplanned": [{"name": u.relpath, "local_path": u.path, "kind": u.kind,
                           "error": u.reason} for u in plan.unplanned],
            "warnings": plan.warnings})
        return ExitCode.OK
    for f in plan.files:
        out.write(f"{human_bytes(f.size):>10}  {f.relpath}  →  {f.key}\n")
    for d in plan.links:
        out.write(f"{'link':>10}  {d.path} → {d.target}: "
                  f"{'followed' if d.followed else 'not followed'} ({d.why})\n")
    for u in plan.unplanned:
        out.write(f"{'CANNOT':>10}  {u.relpath}: {u.reason}\n")
    for k, v in metadata.items():
        out.write(f"{'metadata':>10}  {k} = {v}\n")
    out.write(f"{len(plan.files)} files, {human_bytes(plan.total_bytes)} to "
              f"{prepared.storage.describe()}"
              + (f"; {len(plan.unplanned)} cannot be read" if plan.unplanned else "") + "\n")
    return ExitCode.OK


def report_done(service, done: JobDone, args, out, err) -> int:
    """The run's outcome: the job document (--json), else a line, or the failures; the exit
    status is the run's."""
    if args.json:
        write_json(out, service.job_document(done.job_id, done))
        return done.exit_code
    if done.state is JobState.COMPLETED:
        job = service.journal.job(done.job_id)
        # this run's own speed: what it put on the wire (a resume sends only what was missing)
        speed = done.bytes_sent / done.elapsed if done.elapsed > 0 else 0
        left = f", {done.files_left_out} left out" if done.files_left_out else ""
        out.write(f"Job {done.job_id} completed: {done.files_ok} files{left}, "
                  f"{human_bytes(done.bytes_done)}; this run sent "
                  f"{human_bytes(done.bytes_sent)} in {human_duration(done.elapsed)} "
                  f"({human_rate(speed)}); dataset {job.dataset_id} registered and complete.\n")
        return done.exit_code
    failed = service.journal.tasks(done.job_id, FAILED_STATES)
    for t in failed[:FAILED_SHOWN]:
        err.write(f"  {t.relpath}: {t.error}\n")
    if len(failed) > FAILED_SHOWN:
        err.write(f"  … and {len(failed) - FAILED_SHOWN} more "
                  f"(datauploader jobs {done.job_id})\n")
    err.write(f"Job {done.job_id} {done.state.value}: {done.error}\n")
    return done.exit_code


def _nothing_to_do(service, job) -> JobDone:
    """The outcome of running a job that is already complete."""
    counts = service.journal.counts(job.id)
    return JobDone(job.id, JobState.COMPLETED, counts.files_done, 0, counts.bytes_done, 0.0)


def cmd_upload(service, args, out, err, mode: Mode = Mode.BATCH) -> int:
    definition = DatasetDefinition(
        proposal=args.proposal, name=args.dataset, paths=list(args.paths),
        description=args.description, dataset_type=args.dataset_type, sample=args.sample,
        keywords=list(args.keyword), metadata=_meta(args.meta), include=list(args.include),
        exclude=list(args.exclude), mode=mode.value,
        prefix=getattr(args, "prefix", ""))
    profile = args.profile or service.config.default_profile
    overrides = _overrides(args)
    prepared = service.prepare(definition, profile, overrides)
    plan = prepared.plan
    _report_plan(plan, err)
    # metadata from the files' headers; what the operator gave with --meta wins
    extracted = service.extract_metadata(plan, profile, getattr(args, "parser", None))
    for n in extracted.notices:
        err.write(f"notice: {n}\n")
    definition.metadata = {**extracted.values, **definition.metadata}
    if getattr(args, "dry_run", False):
        return _dry_run(prepared, args, out, definition.metadata)
    log_in(service, profile, args, err)
    for n in service.check_dataset(definition, profile):  # refused before anything moves
        err.write(f"notice: {n}\n")
    confirm_host_key(service, prepared.storage, err)  # an unknown SFTP server is asked about
    job_id = service.create_job(definition, profile, prepared,
                                options={k: v for k, v in overrides.items() if v is not None})
    if not args.json:
        if mode is Mode.SYNC:
            err.write(f"Job {job_id}: watching {', '.join(definition.paths)}; each complete file "
                      f"goes to {prepared.storage.describe()}. Finish with 'datauploader finish "
                      f"{job_id}'; Ctrl-C stops watching (resume later).\n")
        else:
            err.write(f"Job {job_id}: {len(plan.files)} files, {human_bytes(plan.total_bytes)} "
                      f"to {prepared.storage.describe()}\n")
    done = JobRunner(service, err, args.json).run(job_id, overrides,
                                                  getattr(args, "finish_after_idle", None))
    return report_done(service, done, args, out, err)


def cmd_watch(service, args, out, err) -> int:
    for name in ("settle", "finish_after_idle"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise InputError(f"--{name.replace('_', '-')} cannot be negative.")
    return cmd_upload(service, args, out, err, mode=Mode.SYNC)


def cmd_finish(service, args, out, err) -> int:
    job = service.journal.job(args.job)
    if job.definition.mode != Mode.SYNC.value:
        raise UsageError(f"Job {job.id} is not a sync-mode job; it finishes by itself "
                         f"('datauploader resume {job.id}' if it stopped).")
    state = service.job_state(job)
    if state is JobState.COMPLETED:
        if not args.json:
            out.write(f"Job {job.id} is already finished.\n")
            return ExitCode.OK
        return report_done(service, _nothing_to_do(service, job), args, out, err)
    service.journal.request_finish(job.id)
    if state is JobState.RUNNING:
        if args.json:  # the watcher's process reports the outcome; here: the job as it stands
            write_json(out, service.job_document(job.id))
        else:
            out.write(f"Finish requested: the running watcher of job {job.id} makes a last "
                      "scan, uploads what remains and finalizes the dataset.\n")
        return ExitCode.OK
    log_in(service, job.profile, args, err)
    done = JobRunner(service, err, args.json).run(job.id)
    return report_done(service, done, args, out, err)


def cmd_resume(service, args, out, err) -> int:
    job = service.journal.job(args.job)
    state = service.job_state(job)
    if state is JobState.COMPLETED:
        if not args.json:
            out.write(f"Job {job.id} is already complete; nothing to do.\n")
            return ExitCode.OK
        return report_done(service, _nothing_to_do(service, job), args, out, err)
    log_in(service, job.profile, args, err)
    confirm_host_key(service, service.storage(job.profile), err)
    if not args.json:
        c = service.journal.counts(job.id)
        err.write(f"Resuming job {job.id} ({state.value}): {c.files_done} of {job.files_total} "
                  "files already done\n")
    done = JobRunner(service, err, args.json).run(job.id, _overrides(args),
                                                  getattr(args, "finish_after_idle", None))
    return report_done(service, done, args, out, err)
