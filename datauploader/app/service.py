"""The one entry point both front-ends use: configuration → backends → journal → engine.

The CLI and the GUI are thin layers over this: plan a dataset, create the job, run it with
their own subscribers, list jobs, resume, verify. Nothing here imports Qt.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from datauploader.app.config import Config, save_user_settings
from datauploader.app.credentials import SecretStore
from datauploader.app.dataset_checks import DatasetChecks
from datauploader.app.paths import Paths
from datauploader.app.verification import VerifyItem, VerifyReport, verify_job
from datauploader.catalogue import catalogue_class
from datauploader.catalogue.base import Catalogue, DatasetSpec, SharesSession
from datauploader.core import reports
from datauploader.core.controls import JobControls
from datauploader.core.engine import Engine, EngineSettings
from datauploader.core.journal import Journal
from datauploader.core.keys import dataset_key, fill_prefix
from datauploader.core.locks import JobLock
from datauploader.core.models import FAILED_STATES, DatasetDefinition, Mode
from datauploader.core.planner import Plan, Planner
from datauploader.core.records import JobRecord
from datauploader.core.sync import SyncJob
from datauploader.core.watch import WatchSettings
from datauploader.errors import (AuthError, ConfigError, InputError, UsageError,
                                 UserFacingError)
from datauploader.events import JobDone
from datauploader.options import SecretSlot
from datauploader.states import JobState, TaskState
from datauploader.storage import backend_class
from datauploader.storage.base import ChecksHostKey, StorageBackend, WritesIntoDataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildContext:
    """What a backend or catalogue may need beyond its options."""

    section: str
    env: Mapping[str, str]
    secrets: SecretStore
    paths: Paths
    #: the session of another [catalogue:NAME] (IDS storage works in ICAT's session), or None
    #: when that catalogue shares none
    session: Callable[[str], object | None] | None = None


@dataclass
class PreparedJob:
    plan: Plan
    prefix: str
    storage: StorageBackend


@dataclass
class OnlineCheck:
    """What ``config check --online`` reports for a profile: both servers reached, the
    storage's credentials accepted, and what the catalogue's server offers."""

    profile: str
    storage: str
    catalogue: str
    offers: list[str] = field(default_factory=list)
    #: what the storage does that the truth of a report depends on (conditional writes)
    storage_offers: list[str] = field(default_factory=list)


def build(kind: str, typ: str, options: dict, ctx: BuildContext, file: str | None = None):
    """The backend of one section; a value the backend cannot use is a configuration error
    naming the section (the backend's own sentence says which value and why)."""
    cls = backend_class(typ) if kind == "storage" else catalogue_class(typ)
    try:
        return cls.from_config(options, ctx)
    except ValueError as e:
        raise ConfigError(f"a setting cannot be used: {e}; fix it.", file=file,
                          section=f"{kind}:{ctx.section}") from None


class Service(DatasetChecks):
    def __init__(self, config: Config, secrets: SecretStore | None = None,
                 journal: Journal | None = None):
        self.config = config
        self.paths = config.paths
        self.env = config.env
        self.secrets = secrets or SecretStore(config.env)
        self._journal = journal
        self._storages: dict[str, StorageBackend] = {}
        self._catalogues: dict[str, Catalogue] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, paths: Paths, extra_configs: Iterable[str] = (), env=None,
             secrets: SecretStore | None = None) -> "Service":
        config = Config.load(paths, list(extra_configs), env)
        return cls(config, secrets)

    @property
    def journal(self) -> Journal:
        with self._lock:
            if self._journal is None:
                self._journal = Journal(self.paths.journal)
            return self._journal

    def close(self) -> None:
        for s in self._storages.values():
            s.close()
        for c in self._catalogues.values():
            c.close()
        if self._journal is not None:
            self._journal.close()

    # -- backends ---------------------------------------------------------------------------
    def _ctx(self, section: str) -> BuildContext:
        return BuildContext(section, self.env, self.secrets, self.paths, self._shared_session)

    def _shared_session(self, catalogue: str):
        cat = self._catalogue_named(catalogue)
        return cat.shared_session() if isinstance(cat, SharesSession) else None

    def storage(self, profile: str | None = None) -> StorageBackend:
        return self.storage_named(self.config.profile(profile).values["storage"])

    def catalogue(self, profile: str | None = None) -> Catalogue:
        return self._catalogue_named(self.config.profile(profile).values["catalogue"])

    def _catalogue_named(self, name: str) -> Catalogue:
        if name not in self._catalogues:
            typ, options = self.config.options("catalogue", name)
            if typ == "local" and not options.get("path"):
                options["path"] = self.paths.default_catalogue
            self._catalogues[name] = build("catalogue", typ, options, self._ctx(name),
                                           self.config.section("catalogue", name).file)
        return self._catalogues[name]

    def storage_named(self, name: str) -> StorageBackend:
        """The storage of a [storage:NAME] section, whichever profile uses it."""
        if name not in self._storages:
            typ, options = self.config.options("storage", name)
            self._storages[name] = build("storage", typ, options, self._ctx(name),
                                         self.config.section("storage", name).file)
        return self._storages[name]

    # -- storage secrets and server keys -----------------------------------------------------
    def storage_secret_slot(self, name: str) -> SecretSlot:
        """Where the secret of [storage:NAME] lives in the OS keyring (as its backend says)."""
        typ, options = self.config.options("storage", name)
        sec = self.config.section("storage", name)
        try:
            slot = backend_class(typ).secret_slot(options, name)
        except ConfigError as e:
            raise ConfigError(e.problem, file=sec.source(e.key or "type"), section=sec.title,
                              key=e.key) from None
        if slot is None:
            raise UsageError(f"[storage:{name}] is of type {typ} and, as configured, takes no "
                             "secret from the OS keyring.")
        return slot

    def store_storage_secret(self, name: str, secret: str) -> SecretSlot:
        slot = self.storage_secret_slot(name)
        self.secrets.set(slot.service, slot.user, secret)
        return slot

    def forget_storage_secret(self, name: str) -> tuple[SecretSlot, bool]:
        slot = self.storage_secret_slot(name)
        return slot, self.secrets.delete(slot.service, slot.user)

    def check_host_key(self, storage: StorageBackend) -> None:
        """Before a job: raise UnknownHostKeyError if the storage's server key is not trusted
        yet (storages without server keys pass)."""
        if isinstance(storage, ChecksHostKey):
            storage.check_host_key()

    def check_online(self, profile: str | None = None) -> OnlineCheck:
        """Reach the profile's storage (proving its credentials) and ask its catalogue's server
        what it offers (release routes, version, authenticators), without logging in."""
        storage = self.storage(profile)
        storage.check()
        cat = self.catalogue(profile)
        return OnlineCheck(profile or self.config.default_profile, storage.describe(),
                           cat.describe(), cat.describe_server(), self._storage_offers(storage))

    @staticmethod
    def _storage_offers(storage: StorageBackend) -> list[str]:
        if storage.exclusive_writes():
            return ["storage: conditional writes honoured (of two uploads racing on one name, "
                    "only one can succeed)"]
        return ["storage: conditional writes not honoured: files are proven by a listing "
                "before they are registered"]

    def tls_warnings(self, profile: str | None = None) -> list[str]:
        """One sentence per server of the profile whose certificate is not checked
        (``verify_tls = no``): said before every job and by ``config check``."""
        prof = self.config.profile(profile)
        out = []
        for kind in ("storage", "catalogue"):
            sec = self.config.section(kind, prof.values[kind])
            if sec.values.get("verify_tls", "yes").strip().lower() in ("0", "no", "false", "off"):
                out.append(f"TLS certificates are not checked for [{sec.title}] (verify_tls = "
                           f"no in {sec.source('verify_tls')}): anyone on the network path can "
                           "read and change what is sent. Set ca_bundle instead if the server "
                           "uses your facility's own certificate authority.")
        return out

    def login_warning(self, job_id: int, now: Callable[[], float] = time.time) -> str | None:
        """A sentence for the user before a job runs whose catalogue login ends and cannot be
        renewed (a SciCat token): the job stops then, resumable. None when the login is
        renewed while it is used, or when the job's earlier pace says it ends well before."""
        job = self.journal.job(job_id)
        cat = self.catalogue(job.profile)
        ends = cat.login_ends()
        if ends is None:
            return None
        left = ends - now()
        todo = max(0, job.bytes_total - self.journal.counts(job_id).bytes_done)
        need = self._least_duration(job, todo, now())
        pace = self._earlier_pace(job.profile)
        if need is None and pace and todo / pace < left / 2:
            return None  # this profile's earlier jobs moved that much in half the time left
        when = time.strftime("%H:%M", time.localtime(ends))
        head = (f"your login to {cat.describe()} (a token) ends at {when}, in "
                f"{max(0, int(left // 60))} minutes, and cannot be renewed by DataUploader: ")
        if need is not None and need > left:
            return head + (f"job {job_id} needs at least {int(need // 60) + 1} minutes at the "
                           "bandwidth limit, so it will stop then, resumable; get a new token "
                           "and resume it.")
        return head + (f"if job {job_id} is still running then, it stops, resumable; get a new "
                       "token and resume it.")

    def _least_duration(self, job, todo: int, now: float) -> float | None:
        """Seconds the job needs at least: its bytes at the bandwidth limit (None: no limit)."""
        from datauploader.core.throttle import Timetable

        try:
            limit = job.options.get("bandwidth_limit") or \
                self.settings_values(job.profile)["bandwidth_limit"]
            rate = Timetable.parse(str(limit)).rate_at(now)
        except ValueError:
            return None
        return todo / rate if rate else None

    def _earlier_pace(self, profile: str) -> float | None:
        """Bytes per second of this profile's finished jobs, if any."""
        moved = spent = 0.0
        for j in self.journal.jobs(50):
            if j.profile == profile and j.started and j.finished and j.finished > j.started:
                moved += j.bytes_total
                spent += j.finished - j.started
        return moved / spent if moved and spent else None

    def reading_needs_login(self, profile: str | None = None) -> bool:
        """Whether reading the stored files back needs the catalogue's login (IDS)."""
        return isinstance(self.storage(profile), WritesIntoDataset)

    def login(self, profile: str | None = None, credentials: dict | None = None,
              prompt: Callable | None = None, remember: bool = False) -> str:
        """Log in to the profile's catalogue; returns the user name it knows us by.

        Each credential field is taken from, in order: ``credentials`` (what the user typed or
        passed), the environment (``DATAUPLOADER_<FIELD>``, e.g. DATAUPLOADER_PASSWORD), the OS
        keyring (secrets remembered earlier), and ``prompt(field)`` when interactive. With
        ``remember``, the secrets that worked are stored in the OS keyring."""
        cat = self.catalogue(profile)
        fields = cat.credential_fields()
        creds = {k: v for k, v in (credentials or {}).items() if v not in (None, "")}
        for f in fields:
            if f.name not in creds and self.env.get(f"DATAUPLOADER_{f.name.upper()}"):
                creds[f.name] = self.env[f"DATAUPLOADER_{f.name.upper()}"]
            if f.name not in creds and not f.secret and (f.default or f.choices):
                # what the GUI's form would show: the keyring entry is then the same
                creds[f.name] = f.default or f.choices[0]
        user = self._keyring_user(fields, creds)
        for f in fields:
            if f.name in creds or not f.secret:
                continue
            stored = self.secrets.get(cat.keyring_service(), f"{user}:{f.name}")
            if stored is not None:
                creds[f.name] = stored
        if any(f.required and f.name not in creds for f in fields):
            kept = cat.kept_login(creds)  # a login the catalogue keeps (a refresh token)
            if kept is not None:
                return kept
        for f in fields:
            if f.name not in creds and f.required and prompt is not None:
                value = prompt(f)
                if value:
                    creds[f.name] = value
        missing = [f for f in fields if f.required and f.name not in creds]
        if missing:
            names = ", ".join(f.label.lower() for f in missing)
            env = ", ".join(f"DATAUPLOADER_{f.name.upper()}" for f in missing)
            raise AuthError(f"Logging in to {cat.describe()} needs your {names}: give them at "
                            f"the prompt, set {env}, or log in once with 'datauploader login "
                            "--remember' to keep them in the OS keyring.")
        name = cat.login(creds)
        if remember:
            user = self._keyring_user(fields, creds)
            for f in fields:
                if f.secret and f.name in creds:
                    self.secrets.set(cat.keyring_service(), f"{user}:{f.name}", creds[f.name])
        return name

    @staticmethod
    def _keyring_user(fields, creds: dict) -> str:
        """The keyring entry's user: the non-secret fields (e.g. authenticator and user name)."""
        parts = [creds.get(f.name, "") for f in fields if not f.secret]
        return "/".join(p for p in parts if p) or "default"

    def forget_login(self, profile: str | None = None, credentials: dict | None = None) -> bool:
        cat = self.catalogue(profile)
        fields = cat.credential_fields()
        user = self._keyring_user(fields, credentials or {})
        return any([self.secrets.delete(cat.keyring_service(), f"{user}:{f.name}")
                    for f in fields if f.secret] + [cat.forget_kept_login(credentials or {})])

    def settings_values(self, profile: str | None = None, overrides: dict | None = None) -> dict:
        """Effective settings of a profile, with this run's overrides (locked ones win)."""
        values = self.config.effective_settings(profile)
        for k, v in (overrides or {}).items():
            if v is not None and k in values and not self.config.is_locked(k):
                values[k] = v
        return values

    def save_user_settings(self, values: dict) -> str:
        """Write settings to the per-user file; effective at once for new jobs. Returns the
        file written."""
        path = save_user_settings(self.paths, values)
        for k, v in values.items():
            self.config.settings[k] = v
            self.config.setting_sources[k] = path
        return path

    def engine_settings(self, profile: str | None = None, overrides: dict | None = None) -> EngineSettings:
        return EngineSettings.from_settings(self.settings_values(profile, overrides))

    # -- planning and jobs ------------------------------------------------------------------
    def prepare(self, definition: DatasetDefinition, profile: str | None = None,
                overrides: dict | None = None) -> PreparedJob:
        """Plan the dataset: every file with its remote key, the links met and what was done
        with each, and what could not be planned."""
        name = definition.name.strip()
        if "/" in name or "\\" in name:  # ('.' and '..': refused with the prefix below)
            raise InputError(f"The dataset name '{definition.name}' cannot be used: a dataset "
                             "name cannot be '.' or '..' or contain '/' or '\\'; choose another "
                             "name.")
        storage = self.storage(profile)
        values = {"proposal": definition.proposal, "dataset": definition.name,
                  "type": definition.dataset_type, "sample": definition.sample}
        try:
            prefix = fill_prefix(definition.prefix or storage.prefix_template, values,
                                 storage.name_rules)
        except ConfigError as e:
            if definition.prefix:
                raise InputError(f"--prefix: {e.problem}") from None
            sec = self.config.section("storage", self.config.profile(profile).values["storage"])
            raise ConfigError(e.problem, file=sec.source("prefix"), section=sec.title,
                              key="prefix") from None
        # what the catalogue would refuse (etiket's limits), said before anything moves
        self.catalogue(profile).check_values(DatasetSpec(
            name=name, dataset_key="", description=definition.description,
            dataset_type=definition.dataset_type, sample=definition.sample,
            keywords=tuple(definition.keywords), metadata=dict(definition.metadata)))
        links = self.settings_values(profile, overrides)["links"]
        planner = Planner(storage.name_rules, definition.include, definition.exclude, links)
        return PreparedJob(planner.plan(definition.paths, prefix), prefix, storage)

    def create_job(self, definition: DatasetDefinition, profile: str | None = None,
                   prepared: PreparedJob | None = None, options: dict | None = None) -> int:
        profile = profile or self.config.default_profile
        options = {k: v for k, v in (options or {}).items() if v is not None}
        prepared = prepared or self.prepare(definition, profile, options)
        storage = prepared.storage
        cat = self.catalogue(profile)
        values = self.settings_values(profile, options)
        key = dataset_key(cat.describe(), definition.proposal, definition.name,
                          storage.describe(), prepared.prefix)
        plan = prepared.plan
        sync = definition.mode == Mode.SYNC.value
        if not sync and not plan.files and not plan.unplanned:
            raise InputError("There is nothing to upload: the selection holds no files"
                             + (" that the include and exclude patterns let through"
                                if definition.include or definition.exclude else "")
                             + ". Add files, or change the patterns.")
        # sync mode: every file, even one already there, passes the completeness gate first,
        # so the job starts empty and the watcher adds files as they are complete
        return self.journal.create_job(
            profile=profile, catalogue=cat.describe(), storage=storage.describe(),
            prefix=prepared.prefix, definition=definition, files=[] if sync else plan.files,
            options={**options, "checksum": values["checksum"], "links": values["links"]},
            dataset_key=key, unplanned=() if sync else plan.unplanned)

    def run_job(self, job_id: int, subscribers=(), controls: JobControls | None = None,
                overrides: dict | None = None, clock=None,
                finish_after_idle: float | None = None) -> JobDone:
        """Run (or resume) a job to its end. A sync-mode job watches its folders until it is
        finished (``controls.finish()``, ``datauploader finish JOB``, or after
        ``finish_after_idle`` seconds without a new file)."""
        job = self.journal.job(job_id)
        storage = self.storage(job.profile)
        cat = self.catalogue(job.profile)
        if storage.describe() != job.storage:
            raise UserFacingError(
                f"Profile '{job.profile}' now sends files to {storage.describe()}, but job "
                f"{job_id} was started with {job.storage}. Restore that configuration to resume "
                "it, or start a new upload.")
        if cat.describe() != job.catalogue:
            raise UserFacingError(
                f"Profile '{job.profile}' now uses {cat.describe()}, but job {job_id} was started "
                f"with {job.catalogue}. Restore that configuration to resume it.")
        overrides = self.job_options(job, overrides)
        settings = self.engine_settings(job.profile, overrides)
        self._rescan_unplanned(job, storage, overrides)
        engine = Engine(self.journal, storage, cat, settings, subscribers=subscribers,
                        lock_dir=self.paths.locks, clock=clock)
        if job.definition.mode != Mode.SYNC.value:
            return engine.run(job_id, controls)
        controls = controls or JobControls()
        values = self.settings_values(job.profile, overrides)
        d = job.definition
        sync = SyncJob(self.journal, job, storage.name_rules,
                       WatchSettings.from_settings(values, d.include, d.exclude), controls,
                       subscribers, on_modified=str(values["sync_on_modified"]),
                       idle_warning=float(values["sync_idle_warning"]),
                       finish_after_idle=finish_after_idle)
        engine.subscribers.append(sync)
        sync.start()
        try:
            return engine.run(job_id, controls, source=sync)
        finally:
            sync.stop()

    def job_options(self, job: JobRecord, overrides: dict | None = None) -> dict:
        """The job's options (workers, bandwidth limit …, from the journal) with this run's
        overrides; an override is remembered for the next resume. The checksum algorithm is
        fixed per job: a resume must not mix algorithms."""
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        if "checksum" in job.options:
            given.pop("checksum", None)
        options = {**job.options, **given}
        if options != job.options:
            self.journal.set_options(job.id, options)
        return options

    def _rescan_unplanned(self, job: JobRecord, storage: StorageBackend, options: dict) -> None:
        """What could not be planned before (an unreadable folder, a vanished file) is
        scanned again, so that a resume after the cause was fixed uploads it."""
        unplanned = self.journal.tasks(job.id, [TaskState.UNPLANNED])
        if not unplanned:
            return
        d = job.definition
        planner = Planner(storage.name_rules, d.include, d.exclude,
                          options.get("links") or self.settings_values(job.profile)["links"])
        roots = [os.path.abspath(os.path.expanduser(p)) for p in d.paths]
        for t in unplanned:
            plan = planner.replan(t.path, t.relpath, t.kind, job.prefix, roots)
            found = self.journal.replan(t.id, plan.files, plan.unplanned)
            log.info("job %s: %s scanned again: %d files found, %d still cannot be read",
                     job.id, t.relpath, found, len(plan.unplanned))

    def leave_out(self, job_id: int, relpaths: Iterable[str] | None = None) -> list[str]:
        """Record the operator's decision to leave failed files out of the dataset (all of
        them if ``relpaths`` is None); a resume then completes the dataset without them."""
        job = self.journal.job(job_id)
        if relpaths is not None:
            relpaths = list(relpaths)
            failed = {t.relpath for t in self.journal.tasks(job_id, FAILED_STATES)}
            unknown = [r for r in relpaths if r not in failed]
            if unknown:
                raise InputError(f"Job {job.id} has no failed file named {unknown[0]}; "
                                 f"'datauploader jobs {job.id}' lists its failed files.")
        return self.journal.leave_out(job_id, relpaths)

    def job_state(self, job: JobRecord) -> JobState:
        """RUNNING in the journal but no process holds its lock: it was killed."""
        if job.state is JobState.RUNNING and not JobLock(self.paths.locks, job.uuid).held_elsewhere():
            return JobState.INTERRUPTED
        return job.state

    def jobs(self, limit: int | None = None) -> list[tuple[JobRecord, JobState]]:
        return [(j, self.job_state(j)) for j in self.journal.jobs(limit)]

    def interrupted_jobs(self) -> list[JobRecord]:
        return [j for j, s in self.jobs() if s is JobState.INTERRUPTED]

    # -- the job document (core/reports.py): --json and the exported report -----------------
    def job_headers(self, limit: int | None = None) -> list[dict]:
        return [reports.job_header(j, s) for j, s in self.jobs(limit)]

    def job_document(self, job_id: int, done: JobDone | None = None) -> dict:
        """The job with every file; with ``done``, also what that run did."""
        state = self.job_state(self.journal.job(job_id))
        return reports.job_document(self.journal, job_id, state, done)

    def write_report(self, job_id: int, path: str) -> int:
        """The job's report as CSV (or JSON when ``path`` ends in .json); returns the number
        of files in it."""
        state = self.job_state(self.journal.job(job_id))
        return reports.write_report(self.journal, job_id, path, state)

    # -- verification -----------------------------------------------------------------------
    def verify_job(self, job_id: int, quick: bool = False,
                   progress: Callable[[VerifyItem], None] | None = None,
                   cancel: threading.Event | None = None) -> VerifyReport:
        """Re-check every uploaded file of a job against storage (app/verification.py)."""
        job = self.journal.job(job_id)
        return verify_job(self.journal, self.storage(job.profile), job, quick, progress, cancel)
