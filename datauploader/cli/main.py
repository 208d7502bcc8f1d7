"""The command line: the headless front-end over the same engine as the GUI.

``main(argv, env, stdout, stderr)`` turns every outcome into an exit status from one table
(``errors.ExitCode``) so that scripts can rely on it; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
import traceback
from typing import Mapping, TextIO

from datauploader import __version__
from datauploader.app import settings as S
from datauploader.app.paths import resolve
from datauploader.cli.progress import TerminalProgress
from datauploader.core.engine import JobControls
from datauploader.core.models import DatasetDefinition, JobState, Mode, TaskState
from datauploader.errors import (AuthError, DataUploaderError, ExitCode, InputError,
                                 UnknownHostKeyError, UnreachableError, UsageError, UserFacingError)
from datauploader.units import human_bytes, human_duration

log = logging.getLogger(__name__)

EPILOG = """exit codes: 0 done; 1 unexpected error; 2 bad command line, input or configuration;
3 credentials refused; 4 some files failed or verification found problems (resumable);
5 a server could not be reached (resumable); 130 cancelled (resumable)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors get our exit code, not a SystemExit surprise
        raise UsageError(f"{message}. See '{self.prog} --help'.")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="datauploader", description="Upload experimental data safely to facility "
                "storage and register it in the data catalogue.", epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"DataUploader {__version__}")
    p.add_argument("--config", action="append", default=[], metavar="FILE",
                   help="read this configuration file after the system and user files")
    p.add_argument("--debug", action="store_true", help="show tracebacks and log everything")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    def login_options(sp):
        g = sp.add_argument_group("catalogue login (when the catalogue needs one)")
        g.add_argument("--username", help="user name (or set DATAUPLOADER_USERNAME)")
        g.add_argument("--credential", action="append", default=[], metavar="FIELD=VALUE",
                       help="another login field, e.g. authenticator=ldap (repeatable)")
        g.add_argument("--password-stdin", action="store_true",
                       help="read the password or token from standard input (or set "
                            "DATAUPLOADER_PASSWORD / DATAUPLOADER_TOKEN; a terminal asks)")

    def common(sp, profile=True):
        if profile:
            sp.add_argument("--profile", "-p", help="profile from the configuration "
                            "(default: the configured default, else 'local')")
        sp.add_argument("--json", action="store_true", help="print one JSON document for scripts "
                        "instead of text")

    def dataset_options(sp):
        sp.add_argument("--proposal", required=True, help="proposal / investigation the data "
                        "belongs to")
        sp.add_argument("--dataset", required=True, help="dataset name")
        sp.add_argument("--description", default="")
        sp.add_argument("--type", dest="dataset_type", default="raw", help="dataset type (raw)")
        sp.add_argument("--sample", default="")
        sp.add_argument("--keyword", action="append", default=[], help="repeatable")
        sp.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                        help="metadata, repeatable")
        sp.add_argument("--include", action="append", default=[], metavar="GLOB",
                        help="only files matching (repeatable; '*.h5', 'scans/**/*.cbf')")
        sp.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="leave out files or folders matching (repeatable)")
        sp.add_argument("--workers", type=int, help="files at the same time")
        sp.add_argument("--checksum", choices=S.BY_NAME["checksum"].choices)
        sp.add_argument("--bwlimit", help="bandwidth limit, e.g. 10M or '08:00,10M 20:00,off'")

    def sync_options(sp):
        g = sp.add_argument_group("sync mode")
        g.add_argument("--settle", type=float, metavar="SECONDS",
                       help="how long size and time must stay unchanged (setting settle_time)")
        g.add_argument("--finish-after-idle", type=float, metavar="SECONDS",
                       help="finish the dataset once no new file has come for this long")
        g.add_argument("--on-modified", choices=("version", "skip"),
                       help="a file changed after its upload: upload a new version beside it, "
                            "or report and skip it (setting sync_on_modified)")
        g.add_argument("--observer", choices=("auto", "events", "polling"),
                       help="file-system events, polling, or auto (setting sync_observer)")

    up = sub.add_parser("upload", help="upload files and folders as one dataset",
                        epilog=EPILOG)
    common(up)
    dataset_options(up)
    up.add_argument("--dry-run", action="store_true", help="show what would be uploaded where, "
                    "and stop")
    up.add_argument("paths", nargs="+", metavar="PATH")
    login_options(up)

    wt = sub.add_parser("watch", help="sync mode: watch folders during acquisition and upload "
                        "each file as soon as it is complete, until finished", epilog=EPILOG)
    common(wt)
    dataset_options(wt)
    sync_options(wt)
    wt.add_argument("paths", nargs="+", metavar="PATH")
    login_options(wt)

    fin = sub.add_parser("finish", help="sync mode: a last scan, upload what remains, finalize "
                         "the dataset (tells a running watcher, or does it now)", epilog=EPILOG)
    common(fin, profile=False)
    fin.add_argument("job", type=int)
    login_options(fin)

    jobs = sub.add_parser("jobs", help="list jobs from the journal, or show one")
    common(jobs, profile=False)
    jobs.add_argument("job", nargs="?", type=int, help="show this job in detail")
    jobs.add_argument("--limit", type=int, default=50)

    rs = sub.add_parser("resume", help="continue a job where it stopped", epilog=EPILOG)
    common(rs, profile=False)
    rs.add_argument("job", type=int)
    sync_options(rs)
    login_options(rs)

    lg = sub.add_parser("login", help="log in to the profile's catalogue (and remember it)")
    common(lg)
    login_options(lg)
    lg.add_argument("--remember", action="store_true",
                    help="keep the secret in the OS keyring for the next time")
    lg.add_argument("--forget", action="store_true", help="remove a remembered secret")

    vf = sub.add_parser("verify", help="re-check every uploaded file of a job against storage",
                        epilog=EPILOG)
    common(vf, profile=False)
    vf.add_argument("job", type=int)
    vf.add_argument("--quick", action="store_true", help="compare size and recorded checksum "
                    "only, without reading files back")
    login_options(vf)

    cfg = sub.add_parser("config", help="show or check the configuration")
    cfg_sub = cfg.add_subparsers(dest="config_command", parser_class=_Parser)
    show = cfg_sub.add_parser("show", help="effective settings, profiles, storage, catalogues")
    common(show)
    chk = cfg_sub.add_parser("check", help="validate the configuration files")
    common(chk)
    chk.add_argument("--online", action="store_true", help="also reach the profile's storage "
                     "and prove the credentials work")

    cred = sub.add_parser("credentials", help="store or forget a storage secret in the OS keyring")
    cred_sub = cred.add_subparsers(dest="credentials_command", parser_class=_Parser)
    for name, helptext in (("set", "store the secret of a storage's access key in the OS keyring"),
                           ("delete", "remove it from the OS keyring")):
        c = cred_sub.add_parser(name, help=helptext)
        c.add_argument("storage", help="name of a [storage:NAME] section")
        if name == "set":
            c.add_argument("--secret-stdin", action="store_true",
                           help="read the secret from standard input instead of asking")
    cred_sub.add_parser("backend", help="which OS keyring is in use")

    # -- SSH host keys (issue 7) --
    th = sub.add_parser("trust-host", help="trust an SFTP server's host key after comparing its "
                        "fingerprint with the one your facility publishes")
    th.add_argument("storage", help="name of a [storage:NAME] section of type sftp")
    th.add_argument("--fingerprint", metavar="SHA256:…", help="the fingerprint your facility "
                    "published; the key is trusted only if the server's matches it (needed "
                    "when not on a terminal)")

    gui = sub.add_parser("gui", help="open the desktop window (also: no command at all)")
    gui.add_argument("--profile", "-p", help="profile to preselect at login")
    gui.add_argument("--smoke-test", action="store_true", help="open the window, print the "
                     "time it took to appear and the keyring in use, close it again")

    demo = sub.add_parser("demo", help="create example files and upload them with the local "
                          "profile")
    common(demo, profile=False)
    return p


# -- helpers ---------------------------------------------------------------------------------
def _meta(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--meta '{item}' should be KEY=VALUE.")
        out[key.strip()] = value
    return out


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


class _Runner:
    """Runs a job on a thread so that Ctrl-C / SIGTERM in the main thread can cancel it."""

    def __init__(self, service, stderr: TextIO, quiet: bool):
        self.service = service
        self.stderr = stderr
        self.quiet = quiet

    def run(self, job_id: int, overrides: dict | None = None,
            finish_after_idle: float | None = None):
        controls = JobControls()
        warning = self.service.login_warning(job_id)
        if warning:
            self.stderr.write(f"warning: {warning}\n")
        subscribers = []
        if not self.quiet and getattr(self.stderr, "isatty", lambda: False)():
            subscribers.append(TerminalProgress(self.stderr))
        result: dict = {}

        def target():
            try:
                result["done"] = self.service.run_job(job_id, subscribers, controls, overrides,
                                                      finish_after_idle=finish_after_idle)
            except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
                result["error"] = e

        thread = threading.Thread(target=target, name=f"job-{job_id}")
        previous = {}
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            def on_signal(signum, frame):
                if controls.cancelled:  # second Ctrl-C: the user really means it
                    raise KeyboardInterrupt
                if not self.quiet:
                    self.stderr.write("\nCancelling; finishing the current step (press Ctrl-C "
                                      "again to quit at once)…\n")
                controls.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            thread.start()
            while thread.is_alive():
                thread.join(0.2)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if "error" in result:
            raise result["error"]
        return result["done"]


def _login(service, profile, args, err, stdin=None, remember=False) -> str:
    """Log in with what the command line, the environment, the keyring or a prompt gives."""
    creds = {}
    for item in getattr(args, "credential", []) or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--credential '{item}' should be FIELD=VALUE.")
        creds[key.strip()] = value
    if getattr(args, "username", None):
        creds["username"] = args.username
    fields = service.catalogue(profile).credential_fields()
    if getattr(args, "password_stdin", False):
        secret = (stdin or sys.stdin).readline().rstrip("\r\n")
        for f in fields:
            if f.secret and f.name not in creds:
                creds[f.name] = secret
                break
    interactive = getattr(stdin or sys.stdin, "isatty", lambda: False)()

    def prompt(field):
        if not interactive:
            return None
        if field.secret:
            import getpass
            return getpass.getpass(f"{field.label}: ")
        err.write(f"{field.label}{f' ({field.default})' if field.default else ''}: ")
        err.flush()
        return (stdin or sys.stdin).readline().strip() or field.default

    return service.login(profile, creds, prompt=prompt, remember=remember)


def cmd_login(service, args, out, err) -> int:
    profile = args.profile or service.config.default_profile
    if args.forget:
        gone = service.forget_login(profile, {"username": args.username} if args.username else {})
        out.write("Forgotten.\n" if gone else "Nothing was remembered.\n")
        return ExitCode.OK
    user = _login(service, profile, args, err, remember=args.remember)
    out.write(f"Logged in to {service.catalogue(profile).describe()} as {user}"
              + (" (remembered in the OS keyring)" if args.remember else "") + ".\n")
    return ExitCode.OK


def _job_summary(service, done) -> dict:
    journal = service.journal
    job = journal.job(done.job_id)
    failed = [{"file": t.relpath, "error": t.error} for t in
              journal.tasks(done.job_id, [TaskState.FAILED])]
    return {"job": done.job_id, "state": done.state, "proposal": job.proposal,
            "dataset": job.dataset_name, "dataset_id": job.dataset_id,
            "files_ok": done.files_ok, "files_failed": done.files_failed,
            "files_total": job.files_total, "bytes": done.bytes_done,
            "bytes_sent": done.bytes_sent,
            "elapsed": round(done.elapsed, 3), "error": done.error,
            "exit_code": done.exit_code, "failed_files": failed}


def _report_done(service, done, args, out: TextIO, err: TextIO) -> int:
    summary = _job_summary(service, done)
    if args.json:
        json.dump(summary, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        speed = done.bytes_done / done.elapsed if done.elapsed > 0 else 0
        if done.state == JobState.COMPLETED.value:
            out.write(f"Job {done.job_id} completed: {done.files_ok} files, "
                      f"{human_bytes(done.bytes_done)} in {human_duration(done.elapsed)} "
                      f"({human_bytes(speed)}/s); dataset {summary['dataset_id']} registered "
                      "and complete.\n")
        else:
            for f in summary["failed_files"][:20]:
                err.write(f"  {f['file']}: {f['error']}\n")
            if len(summary["failed_files"]) > 20:
                err.write(f"  … and {len(summary['failed_files']) - 20} more "
                          f"(datauploader jobs {done.job_id})\n")
            err.write(f"Job {done.job_id} {done.state}: {done.error}\n")
    return done.exit_code


# -- commands --------------------------------------------------------------------------------
def _sync_overrides(args) -> dict:
    return {"settle_time": getattr(args, "settle", None),
            "sync_on_modified": getattr(args, "on_modified", None),
            "sync_observer": getattr(args, "observer", None)}


def cmd_upload(service, args, out, err, mode: str = Mode.BATCH.value) -> int:
    definition = DatasetDefinition(
        proposal=args.proposal, name=args.dataset, paths=list(args.paths),
        description=args.description, dataset_type=args.dataset_type, sample=args.sample,
        keywords=list(args.keyword), metadata=_meta(args.meta), include=list(args.include),
        exclude=list(args.exclude), mode=mode)
    profile = args.profile or service.config.default_profile
    overrides = {"workers": args.workers, "checksum": args.checksum,
                 "bandwidth_limit": args.bwlimit, **_sync_overrides(args)}
    if args.bwlimit:
        try:
            S.BY_NAME["bandwidth_limit"].parse(args.bwlimit)
        except ValueError as e:
            raise InputError(f"--bwlimit: {e}.") from None
    prepared = service.prepare(definition, profile)
    for w in prepared.plan.warnings:
        err.write(f"warning: {w}\n")
    plan = prepared.plan
    if getattr(args, "dry_run", False):
        if args.json:
            json.dump({"files": [{"path": f.path, "name": f.relpath, "key": f.key,
                                  "size": f.size} for f in plan.files],
                       "total_bytes": plan.total_bytes, "storage": prepared.storage.describe(),
                       "warnings": plan.warnings}, out, ensure_ascii=False, indent=2)
            out.write("\n")
        else:
            for f in plan.files:
                out.write(f"{human_bytes(f.size):>10}  {f.relpath}  →  {f.key}\n")
            out.write(f"{len(plan.files)} files, {human_bytes(plan.total_bytes)} to "
                      f"{prepared.storage.describe()}\n")
        return ExitCode.OK
    _login(service, profile, args, err)
    _confirm_host_key(service, prepared.storage, err)  # issue 7: an unknown SFTP server is asked about
    job_id = service.create_job(definition, profile, prepared,
                                options={k: v for k, v in overrides.items() if v is not None})
    if not args.json:
        if mode == Mode.SYNC.value:
            err.write(f"Job {job_id}: watching {', '.join(definition.paths)}; each complete file "
                      f"goes to {prepared.storage.describe()}. Finish with 'datauploader finish "
                      f"{job_id}'; Ctrl-C stops watching (resume later).\n")
        else:
            err.write(f"Job {job_id}: {len(plan.files)} files, {human_bytes(plan.total_bytes)} "
                      f"to {prepared.storage.describe()}\n")
    done = _Runner(service, err, args.json).run(job_id, overrides,
                                                getattr(args, "finish_after_idle", None))
    return _report_done(service, done, args, out, err)


def cmd_watch(service, args, out, err) -> int:
    for name in ("settle", "finish_after_idle"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise InputError(f"--{name.replace('_', '-')} cannot be negative.")
    return cmd_upload(service, args, out, err, mode=Mode.SYNC.value)


def cmd_finish(service, args, out, err) -> int:
    job = service.journal.job(args.job)
    if job.definition.mode != Mode.SYNC.value:
        raise UsageError(f"Job {job.id} is not a sync-mode job; it finishes by itself "
                         f"('datauploader resume {job.id}' if it stopped).")
    state = service.job_state(job)
    if state is JobState.COMPLETED:
        out.write(f"Job {job.id} is already finished.\n")
        return ExitCode.OK
    service.journal.request_finish(job.id)
    if state is JobState.RUNNING:
        out.write(f"Finish requested: the running watcher of job {job.id} makes a last scan, "
                  "uploads what remains and finalizes the dataset.\n")
        return ExitCode.OK
    _login(service, job.profile, args, err)
    done = _Runner(service, err, args.json).run(job.id)
    return _report_done(service, done, args, out, err)


def cmd_resume(service, args, out, err) -> int:
    job = service.journal.job(args.job)
    state = service.job_state(job)
    if state is JobState.COMPLETED:
        if args.json:
            json.dump({"job": job.id, "state": state.value, "exit_code": 0}, out)
            out.write("\n")
        else:
            out.write(f"Job {job.id} is already complete; nothing to do.\n")
        return ExitCode.OK
    _login(service, job.profile, args, err)
    _confirm_host_key(service, service.storage(job.profile), err)  # issue 7
    if not args.json:
        c = service.journal.counts(job.id)
        err.write(f"Resuming job {job.id} ({state.value}): {c.files_done} of {job.files_total} "
                  "files already done\n")
    done = _Runner(service, err, args.json).run(job.id, _sync_overrides(args),
                                                getattr(args, "finish_after_idle", None))
    return _report_done(service, done, args, out, err)


def cmd_jobs(service, args, out, err) -> int:
    if args.job is not None:
        return _show_job(service, args, out)
    rows = service.jobs(args.limit)
    if args.json:
        json.dump([{"job": j.id, "state": s.value, "created": j.created, "profile": j.profile,
                    "proposal": j.proposal, "dataset": j.dataset_name,
                    "files_total": j.files_total, "bytes_total": j.bytes_total,
                    "error": j.error} for j, s in rows], out, ensure_ascii=False, indent=2)
        out.write("\n")
        return ExitCode.OK
    if not rows:
        out.write("No jobs yet.\n")
        return ExitCode.OK
    out.write(f"{'JOB':>5}  {'STATE':<11}  {'CREATED':<16}  {'FILES':>7}  {'SIZE':>10}  "
              "PROPOSAL / DATASET\n")
    for j, s in rows:
        out.write(f"{j.id:>5}  {s.value:<11}  {_when(j.created):<16}  {j.files_total:>7}  "
                  f"{human_bytes(j.bytes_total):>10}  {j.proposal} / {j.dataset_name}\n")
    return ExitCode.OK


def _show_job(service, args, out) -> int:
    journal = service.journal
    job = journal.job(args.job)
    state = service.job_state(job)
    counts = journal.counts(job.id)
    tasks = journal.tasks(job.id)
    if args.json:
        json.dump({"job": job.id, "uuid": job.uuid, "state": state.value, "profile": job.profile,
                   "catalogue": job.catalogue, "storage": job.storage, "prefix": job.prefix,
                   "proposal": job.proposal, "dataset": job.dataset_name,
                   "dataset_id": job.dataset_id, "created": job.created,
                   "finished": job.finished, "error": job.error, "counts": counts.files,
                   "files": [{"name": t.relpath, "path": t.path, "key": t.key, "size": t.size,
                              "state": t.state.value, "checksum": t.checksum,
                              "algorithm": t.algorithm, "location": t.location,
                              "verified_by": t.verified_by, "datafile_id": t.datafile_id,
                              "attempts": t.attempts, "error": t.error} for t in tasks]},
                  out, ensure_ascii=False, indent=2)
        out.write("\n")
        return ExitCode.OK
    out.write(f"Job {job.id}  {state.value}\n"
              f"  dataset   {job.proposal} / {job.dataset_name} (catalogue id "
              f"{job.dataset_id or '-'})\n"
              f"  profile   {job.profile}\n  catalogue {job.catalogue}\n"
              f"  storage   {job.storage}, prefix {job.prefix}\n"
              f"  created   {_when(job.created)}   finished {_when(job.finished)}\n"
              f"  files     {job.files_total} ({human_bytes(job.bytes_total)}): "
              + ", ".join(f"{n} {s}" for s, n in sorted(counts.files.items())) + "\n")
    if job.error:
        out.write(f"  error     {job.error}\n")
    for t in tasks:
        if t.state is TaskState.FAILED:
            out.write(f"  FAILED  {t.relpath}: {t.error}\n")
    return ExitCode.OK


def cmd_verify(service, args, out, err) -> int:
    job = service.journal.job(args.job)
    if service.reading_needs_login(job.profile):
        # bytes kept by the catalogue's own data service (IDS): reading them needs a session
        _login(service, job.profile, args, err)
    tty = getattr(err, "isatty", lambda: False)()
    seen = [0]

    def progress(item):
        seen[0] += 1
        if tty and not args.json:
            err.write(f"\rchecked {seen[0]}/{job.files_total}")
            err.flush()

    report = service.verify_job(job.id, quick=args.quick, progress=progress)
    if tty and not args.json:
        err.write("\n")
    problems = report.problems
    if args.json:
        json.dump({"job": job.id, "mode": report.mode, "checked": len(report.items),
                   "ok": len(report.items) - len(problems),
                   "problems": [{"file": i.relpath, "key": i.key, "status": i.status,
                                 "detail": i.detail} for i in problems]},
                  out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        for i in problems:
            out.write(f"{i.status:<18} {i.relpath}: {i.detail}\n")
        out.write(f"Job {job.id}: {len(report.items) - len(problems)} of {len(report.items)} "
                  f"files verified ({report.mode})"
                  + (f", {len(problems)} problems.\n" if problems else "; all good.\n"))
    return ExitCode.INCOMPLETE if problems else ExitCode.OK


def cmd_config(service, args, out, err) -> int:
    cfg = service.config
    if args.config_command == "check":
        profiles = [args.profile] if args.profile else cfg.profile_names()
        warnings = list(cfg.warnings)
        for name in profiles:
            cfg.profile(name)
            sec = cfg.section("storage", cfg.profile(name).values["storage"])
            try:
                storage = service.storage(name)
            except AuthError as e:
                if args.online:
                    raise
                # checking the files of a site configuration needs no secret on this machine
                warnings.append(f"profile {name}: {e.message}")
                storage = None
            cat = service.catalogue(name)
            online = service.check_online(name) if args.online and storage is not None else None
            if not args.json:
                where = storage.describe() if storage else f"[{sec.title}] (no credentials here)"
                out.write(f"profile {name}: storage {where}, {cat.describe()}"
                          + (" — reachable, credentials accepted" if args.online else "") + "\n")
                for line in online.offers if online else ():
                    out.write(f"  {cat.describe()}: {line}\n")
        for w in warnings:
            err.write(f"warning: {w}\n")
        if args.json:
            json.dump({"ok": True, "files": cfg.files, "profiles": profiles,
                       "warnings": warnings}, out, indent=2)
            out.write("\n")
        else:
            out.write("Configuration OK (" + (", ".join(cfg.files) or "built-in defaults only")
                      + ").\n")
        return ExitCode.OK
    # show
    profile = args.profile or cfg.default_profile
    values = cfg.effective_settings(profile)
    if args.json:
        json.dump({"files": cfg.files, "default_profile": cfg.default_profile,
                   "profile": profile,
                   "settings": {k: {"value": values[k], "source": cfg.setting_source(k, profile),
                                    "description": S.BY_NAME[k].description}
                                for k in values},
                   "sections": {sec.title: sec.values for sec in cfg.sections.values()}},
                  out, indent=2, default=str)
        out.write("\n")
        return ExitCode.OK
    out.write("Configuration files read: " + (", ".join(cfg.files) or "none") + "\n")
    out.write(f"  (system: {cfg.paths.system_config}; user: {cfg.paths.user_config})\n\n")
    out.write(f"Settings for profile '{profile}':\n")
    for s in S.SETTINGS:
        out.write(f"  {s.name:<16} = {s.format(values[s.name]):<14} # {s.description} "
                  f"[{cfg.setting_source(s.name, profile)}]\n")
    for kind in ("profile", "storage", "catalogue"):
        for (k, name), sec in sorted(cfg.sections.items()):
            if k != kind:
                continue
            out.write(f"\n[{sec.title}]  # from {sec.file}\n")
            for key, val in sec.values.items():
                out.write(f"  {key} = {val}\n")
    out.write(f"\nJournal: {cfg.paths.journal}\nLog file: {cfg.paths.log_file}\n")
    return ExitCode.OK


def cmd_demo(service, args, out, err) -> int:
    """A first upload with nothing configured: example files → local folder + catalogue."""
    import secrets as _secrets

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + _secrets.token_hex(2)
    folder = os.path.join(service.paths.data_dir, "demo-data", f"scan-{stamp}")
    os.makedirs(os.path.join(folder, "frames"), exist_ok=True)
    for i in range(20):
        with open(os.path.join(folder, "frames", f"frame_{i:04d}.raw"), "wb") as f:
            f.write(_secrets.token_bytes(64 * 1024))
    with open(os.path.join(folder, "scan parameters #1.txt"), "w", encoding="utf-8") as f:
        f.write("energy = 12.4 keV\nexposure = 0.1 s\nsample = Lysozyme (tetragonal)\n")
    args.proposal, args.dataset = "DEMO-0001", f"scan-{stamp}"
    args.description = "Demonstration dataset created by 'datauploader demo'"
    args.dataset_type, args.sample = "raw", "lysozyme"
    args.keyword, args.meta = ["demo"], ["energy_keV=12.4", "exposure_s=0.1"]
    args.include, args.exclude, args.paths = [], [], [folder]
    args.workers = args.checksum = args.bwlimit = None
    args.dry_run, args.profile = False, "local"
    if not args.json:
        err.write(f"Created example files in {folder}\n")
    code = cmd_upload(service, args, out, err)
    if code == ExitCode.OK and not args.json:
        storage = service.storage("local")
        out.write(f"The files are in {storage.describe()}; the dataset is in the "
                  f"{service.catalogue('local').describe()}.\n"
                  "Try: datauploader jobs   ·   datauploader verify <job>\n")
    return code


def cmd_credentials(service, args, out, err, stdin=None) -> int:
    if args.credentials_command == "backend":
        out.write(f"{service.secrets.backend_name}\n")
        return ExitCode.OK
    if args.credentials_command is None:
        raise UsageError("say 'credentials set STORAGE', 'credentials delete STORAGE' or "
                         "'credentials backend'.")
    if args.credentials_command == "delete":
        slot, gone = service.forget_storage_secret(args.storage)
        out.write(("Removed" if gone else "There was no") + f" secret for {slot.what}.\n")
        return ExitCode.OK
    slot = service.storage_secret_slot(args.storage)
    if args.secret_stdin:
        secret = (stdin or sys.stdin).readline().rstrip("\r\n")
    else:
        import getpass
        secret = getpass.getpass(f"{slot.prompt}: ")
    if not secret:
        raise InputError("The secret is empty; nothing was stored.")
    service.store_storage_secret(args.storage, secret)
    out.write(f"Stored the secret for {slot.what} in the OS keyring "
              f"({service.secrets.backend_name}).\n")
    return ExitCode.OK


# -- SSH host keys -----------------------------------------------------------------------------
def _ask_trust(error, err, stdin=None) -> bool:
    """On a terminal, show the unknown key and ask; elsewhere never trust."""
    stdin = stdin or sys.stdin
    if not getattr(stdin, "isatty", lambda: False)():
        return False
    err.write(f"The SFTP server {error.host}:{error.port} is not known on this computer yet.\n"
              f"  key type:    {error.key_type}\n  fingerprint: {error.fingerprint}\n"
              "Compare the fingerprint with the one your facility publishes. Trust it? [y/N] ")
    err.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def _confirm_host_key(service, storage, err, stdin=None) -> None:
    """Before a job: an unknown SFTP host key is trusted only on an explicit yes at a
    terminal; otherwise its error (fingerprint and the command to trust it) ends the
    command. A changed key is always an error. Unreachable servers are left to the job
    (retried, resumable)."""
    try:
        service.check_host_key(storage)
    except UnknownHostKeyError as e:
        if not _ask_trust(e, err, stdin):
            raise
        e.trust()
        err.write(f"Trusted; recorded in {e.trust_file}.\n")
    except UnreachableError:
        pass


def cmd_trust_host(service, args, out, err, stdin=None) -> int:
    typ, options = service.config.options("storage", args.storage)
    if typ != "sftp":
        raise UsageError(f"[storage:{args.storage}] is of type {typ}; only SFTP storage has "
                         "host keys.")
    storage = service.storage_named(args.storage)
    try:
        service.check_host_key(storage)
    except UnknownHostKeyError as e:
        given = (args.fingerprint or "").strip()
        if given and given.removeprefix("SHA256:") != e.fingerprint.removeprefix("SHA256:"):
            raise AuthError(f"WARNING: the SFTP server {e.host}:{e.port} presents the key "
                            f"{e.fingerprint}, not the fingerprint you gave ({given}). Nothing "
                            "was trusted; ask your facility.") from None
        if not given and not _ask_trust(e, err, stdin):
            raise UsageError(f"The SFTP server {e.host}:{e.port} presents the {e.key_type} key "
                             f"{e.fingerprint}. Compare it with the fingerprint your facility "
                             "publishes, then run: datauploader trust-host "
                             f"{args.storage} --fingerprint {e.fingerprint}") from None
        e.trust()
        out.write(f"Trusted the {e.key_type} key {e.fingerprint} of {e.host}:{e.port}; "
                  f"recorded in {e.trust_file}.\n")
        return ExitCode.OK
    out.write(f"The host key of {options['host']}:{options.get('port', 22)} is already "
              "trusted.\n")
    return ExitCode.OK
# ---------------------------------------------------------------------------------------------


COMMANDS = {"upload": cmd_upload, "watch": cmd_watch, "finish": cmd_finish, "resume": cmd_resume, "jobs": cmd_jobs, "verify": cmd_verify,
            "config": cmd_config, "demo": cmd_demo, "credentials": cmd_credentials,
            "login": cmd_login, "trust-host": cmd_trust_host}


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    env = dict(os.environ if env is None else env)
    debug = False
    service = None
    try:
        parser = build_parser()
        try:
            with contextlib.redirect_stdout(out):  # --help and --version print to stdout
                args = parser.parse_args(argv)
        except SystemExit as e:
            return int(e.code or 0)
        debug = args.debug
        if args.command in (None, "gui"):
            from datauploader.gui.app import run_from_cli
            return run_from_cli(args)
        if args.command == "config" and args.config_command is None:
            raise UsageError("say 'config show' or 'config check'.")
        paths = resolve(env)
        from datauploader.app.service import Service, configure_logging

        service = Service.open(paths, args.config, env)
        level = service.config.effective_settings(getattr(args, "profile", None))["log_level"]
        configure_logging(paths, str(level), debug)
        log.info("datauploader %s: %s", __version__, " ".join(argv or sys.argv[1:]))
        return COMMANDS[args.command](service, args, out, err)
    except KeyboardInterrupt:
        err.write("\nInterrupted; the job can be resumed.\n")
        return ExitCode.INTERRUPTED
    except UserFacingError as e:
        err.write(f"error: {e.message}\n")
        if debug:
            traceback.print_exc(file=err)
        elif e.details:
            err.write("(run with --debug for details)\n")
        return e.exit_code
    except DataUploaderError as e:
        err.write(f"error: {e.message}\n")
        if debug:
            traceback.print_exc(file=err)
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the last line of defence
        log.exception("unexpected error")
        err.write(f"error: Unexpected error: {type(e).__name__}: {e}\n")
        if debug:
            traceback.print_exc(file=err)
        else:
            err.write("Run again with --debug for details, or see the log file.\n")
        return ExitCode.ERROR
    finally:
        if service is not None:
            service.close()


def run() -> None:
    sys.exit(main(sys.argv[1:]))
