"""``verify JOB``: every uploaded file of a job checked again against the storage (read back
and hashed; --quick: size and the ETag the object had when it was stored, where the storage
states one — a file with nothing but its size to compare is counted as such, not as proven)."""

from __future__ import annotations

from datauploader.cli.commands.login import log_in
from datauploader.cli.output import write_json
from datauploader.cli.runner import is_terminal
from datauploader.errors import ExitCode


def cmd_verify(service, args, out, err) -> int:
    job = service.journal.job(args.job)
    if service.reading_needs_login(job.profile):
        # bytes kept by the catalogue's own data service (IDS): reading them needs a session
        log_in(service, job.profile, args, err)
    tty = is_terminal(err) and not args.json
    seen = [0]

    def progress(item):
        seen[0] += 1
        if tty:
            err.write(f"\rchecked {seen[0]}/{job.files_total}")
            err.flush()

    report = service.verify_job(job.id, quick=args.quick, progress=progress)
    if tty:
        err.write("\n")
    problems = report.problems
    if args.json:
        write_json(out, {"job": job.id, "mode": report.mode, "checked": len(report.items),
                         "ok": len(report.items) - len(problems),
                         "size_only": len(report.unproven),
                         "problems": [{"file": i.relpath, "key": i.key, "status": i.status,
                                       "detail": i.detail} for i in problems]})
    else:
        for i in problems:
            out.write(f"{i.status:<18} {i.relpath}: {i.detail}\n")
        unproven = len(report.unproven)
        out.write(f"Job {job.id}: {len(report.items) - len(problems)} of {len(report.items)} "
                  f"files verified ({report.mode})"
                  + (f", {unproven} of them by their size only (verify without --quick reads "
                     "them back)" if unproven else "")
                  + (f", {len(problems)} problems.\n" if problems else "; all good.\n"))
    return ExitCode.INCOMPLETE if problems else ExitCode.OK
