"""One function per command: ``(service, args, out, err) -> exit status``."""

from __future__ import annotations

from datauploader.cli.commands.config import cmd_config
from datauploader.cli.commands.credentials import cmd_credentials
from datauploader.cli.commands.demo import cmd_demo
from datauploader.cli.commands.hostkeys import cmd_trust_host
from datauploader.cli.commands.jobs import cmd_jobs
from datauploader.cli.commands.leave_out import cmd_leave_out
from datauploader.cli.commands.login import cmd_login
from datauploader.cli.commands.upload import cmd_finish, cmd_resume, cmd_upload, cmd_watch
from datauploader.cli.commands.verify import cmd_verify

COMMANDS = {"upload": cmd_upload, "watch": cmd_watch, "finish": cmd_finish,
            "resume": cmd_resume, "jobs": cmd_jobs, "verify": cmd_verify, "config": cmd_config,
            "demo": cmd_demo, "credentials": cmd_credentials, "login": cmd_login,
            "trust-host": cmd_trust_host, "leave-out": cmd_leave_out}
