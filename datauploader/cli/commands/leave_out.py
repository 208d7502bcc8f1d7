"""``leave-out``: the operator's decision that failed files of a job stay out of its dataset
(recorded in the journal with why they had failed); ``resume`` then completes the dataset."""

from __future__ import annotations

from datauploader.cli.output import write_json
from datauploader.errors import ExitCode


def cmd_leave_out(service, args, out, err) -> int:
    names = None if args.all_failed else list(args.names)
    left = service.leave_out(args.job, names)
    if args.json:
        write_json(out, {"job": args.job, "left_out": left})
        return ExitCode.OK
    if not left:
        out.write(f"Job {args.job} has no failed files; nothing was left out.\n")
        return ExitCode.OK
    for name in left:
        out.write(f"left out: {name}\n")
    out.write(f"{len(left)} files of job {args.job} are left out of the dataset (recorded). Run "
              f"'datauploader resume {args.job}' to complete the dataset without them.\n")
    return ExitCode.OK
