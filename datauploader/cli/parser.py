"""The command line's grammar: every command, option and help text (argparse).

The epilog listing the exit codes is made from ``errors.ExitCode``, so help, README and the
statuses ``main`` returns cannot disagree.
"""

from __future__ import annotations

import argparse

from datauploader import __version__
from datauploader.app import settings as S
from datauploader.errors import ExitCode, UsageError

EPILOG = "exit codes: " + "; ".join(f"{c.value} {c.meaning}" for c in ExitCode) + "."


#: the openBIS script's argument names, the same options as ours
ALIASES = {"--entry": "--proposal", "--object": "--sample"}


def _aliased(args: list[str]) -> list[str]:
    out, rest = [], False
    for a in args:
        name, eq, value = a.partition("=")
        out.append(a if rest else ALIASES.get(name, name) + eq + value)
        rest = rest or a == "--"
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors get our exit code and sentence, not a SystemExit
        raise UsageError(f"{message}. See '{self.prog} --help'.")

    def parse_known_args(self, args=None, namespace=None):
        return super().parse_known_args(None if args is None else _aliased(list(args)),
                                        namespace)


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
                        "instead of text (an error too)")

    def dataset_options(sp):
        sp.add_argument("--proposal", required=True,
                        help="proposal / investigation the data belongs to (openBIS: the "
                             "collection, /SPACE/PROJECT/COLLECTION; also --entry)")
        sp.add_argument("--dataset", required=True, help="dataset name")
        sp.add_argument("--description", default="")
        sp.add_argument("--type", dest="dataset_type", default="raw",
                        help="dataset type (raw; openBIS: one of the server's, e.g. RAW_DATA)")
        sp.add_argument("--sample", default="",
                        help="sample (openBIS: an object of the collection; also --object)")
        sp.add_argument("--parser", action="append", default=[], metavar="CODE",
                        help="metadata parser run on the files' headers (hdf5, tiff, csv, tsv, "
                             "json, yaml or a plug-in's; repeatable; default: the 'parsers' "
                             "setting)")
        sp.add_argument("--prefix", default="", metavar="TEMPLATE",
                        help="where the files land on the storage, instead of its 'prefix' "
                             "(same placeholders: {proposal}, {dataset} …)")
        sp.add_argument("--keyword", action="append", default=[], help="repeatable")
        sp.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                        help="metadata, repeatable")
        sp.add_argument("--include", action="append", default=[], metavar="GLOB",
                        help="only files matching (repeatable; '*.h5', 'scans/**/*.cbf')")
        sp.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="leave out files or folders matching (repeatable)")
        sp.add_argument("--links", choices=S.BY_NAME["links"].choices,
                        help="symbolic links in the folders: follow those pointing inside the "
                             "selection (inside, the default), all (follow), or none (skip)")
        job_options(sp)
        sp.add_argument("--checksum", choices=S.BY_NAME["checksum"].choices)

    def job_options(sp):
        sp.add_argument("--workers", type=int, help="files at the same time (kept for resume)")
        sp.add_argument("--bwlimit", help="bandwidth limit, e.g. 10M or '08:00,10M 20:00,off' "
                        "(kept for resume)")

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

    rs = sub.add_parser("resume", help="continue a job where it stopped, with its own options "
                        "unless given again", epilog=EPILOG)
    common(rs, profile=False)
    rs.add_argument("job", type=int)
    job_options(rs)
    sync_options(rs)
    login_options(rs)

    lo = sub.add_parser("leave-out", help="leave a job's failed files out of its dataset (the "
                        "decision is recorded); 'resume' then completes the dataset without them",
                        epilog=EPILOG)
    common(lo, profile=False)
    lo.add_argument("job", type=int)
    which = lo.add_mutually_exclusive_group(required=True)
    which.add_argument("names", nargs="*", default=[], metavar="NAME",
                       help="failed files, by their name in the dataset ('jobs JOB' lists them)")
    which.add_argument("--all-failed", action="store_true", help="every failed file of the job")

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

    # SSH host keys: compared with what the facility publishes, then trusted
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
