"""``config show`` (effective settings, where each comes from, every section) and ``config
check`` (the files parse; with --online, the storage is reached and the credentials work)."""

from __future__ import annotations

from datauploader.app import settings as S
from datauploader.cli.output import write_json
from datauploader.errors import AuthError, ExitCode


def cmd_config(service, args, out, err) -> int:
    if args.config_command == "check":
        return _check(service, args, out, err)
    return _show(service, args, out)


def _check(service, args, out, err) -> int:
    cfg = service.config
    profiles = [args.profile] if args.profile else cfg.profile_names()
    warnings = list(cfg.warnings)
    for name in profiles:
        warnings += [w for w in service.tls_warnings(name) if w not in warnings]
    offers: dict[str, list[str]] = {}
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
        if online:
            offers[name] = list(online.offers) + list(online.storage_offers)
        if not args.json:
            where = storage.describe() if storage else f"[{sec.title}] (no credentials here)"
            out.write(f"profile {name}: storage {where}, {cat.describe()}"
                      + (" — reachable, credentials accepted" if args.online else "") + "\n")
            for line in online.offers if online else ():
                out.write(f"  {cat.describe()}: {line}\n")
            for line in online.storage_offers if online else ():
                out.write(f"  {online.storage}: {line}\n")
    for w in warnings:
        err.write(f"warning: {w}\n")
    if args.json:
        write_json(out, {"ok": True, "files": cfg.files, "profiles": profiles,
                         "warnings": warnings, **({"online": offers} if args.online else {})})
    else:
        out.write("Configuration OK (" + (", ".join(cfg.files) or "built-in defaults only")
                  + ").\n")
    return ExitCode.OK


def _show(service, args, out) -> int:
    cfg = service.config
    profile = args.profile or cfg.default_profile
    values = cfg.effective_settings(profile)
    if args.json:
        write_json(out, {
            "files": cfg.files, "default_profile": cfg.default_profile, "profile": profile,
            "settings": {k: {"value": values[k], "source": cfg.setting_source(k, profile),
                             "description": S.BY_NAME[k].description} for k in values},
            "sections": {sec.title: sec.values for sec in cfg.sections.values()}},
            default=str)
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
