"""Configuration: INI files, a system-wide one, a per-user one and ``--config FILE``.

Later files override earlier ones key by key; values in the system file's ``[locked]`` section
override everything (an admin's word is final). A profile names one catalogue and one storage
target and may override settings::

    [settings]
    default_profile = beamline
    workers = 8

    [profile:beamline]
    catalogue = local
    storage = raw-s3
    checksum = md5

    [storage:raw-s3]
    type = s3
    endpoint_url = https://s3.example.org
    bucket = raw
    prefix = {proposal}/{dataset}

With no file at all the built-in ``local`` profile works. Every error names the file, the
section and the key. Secrets are refused: they belong in the OS keyring or the environment.
"""

from __future__ import annotations

import configparser
import difflib
import os
from dataclasses import dataclass, field
from typing import Mapping

from datauploader.app import settings as S
from datauploader.app.paths import Paths
from datauploader.catalogue import CATALOGUES, catalogue_class
from datauploader.errors import ConfigError
from datauploader.storage import BACKENDS, backend_class

BUILTIN = "<built-in>"
LOCAL = "local"
PROFILE_KEYS = {"catalogue": "the [catalogue:…] section (or 'local') this profile uses",
                "storage": "the [storage:…] section (or 'local') this profile uses",
                "description": "a line shown in the profile chooser"}
GLOBAL_KEYS = {"default_profile": "profile used when none is chosen"}
SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "passphrase")


def _is_secret_key(key: str) -> bool:
    k = key.lower()
    return any(w in k for w in SECRET_WORDS) and not k.endswith(("_env", "_command", "_file"))


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass
class Section:
    kind: str  # storage | catalogue | profile
    name: str
    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # key → file it came from
    file: str = BUILTIN

    @property
    def title(self) -> str:
        return f"{self.kind}:{self.name}"

    def source(self, key: str) -> str:
        return self.sources.get(key, self.file)


class Config:
    def __init__(self, paths: Paths, env: Mapping[str, str] | None = None):
        self.paths = paths
        self.env = dict(os.environ if env is None else env)
        self.files: list[str] = []
        self.warnings: list[str] = []
        self.settings: dict[str, object] = S.defaults()
        self.setting_sources: dict[str, str] = {k: BUILTIN for k in self.settings}
        self.locked: dict[str, tuple[object, str]] = {}
        self.default_profile = LOCAL
        self.default_profile_source = BUILTIN
        self.sections: dict[tuple[str, str], Section] = {}
        self._add_builtins()

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, paths: Paths, extra: list[str] | tuple = (), env=None) -> "Config":
        cfg = cls(paths, env)
        if os.path.isfile(paths.system_config):
            cfg._read(paths.system_config, system=True)
        if os.path.isfile(paths.user_config):
            cfg._read(paths.user_config)
        for f in extra:
            if not os.path.isfile(f):
                raise ConfigError("the file does not exist; check the --config path.", file=f)
            cfg._read(f)
        cfg._validate_references()
        return cfg

    def _add_builtins(self) -> None:
        self.sections[("storage", LOCAL)] = Section(
            "storage", LOCAL, {"type": "filesystem", "path": self.paths.default_storage})
        self.sections[("catalogue", LOCAL)] = Section(
            "catalogue", LOCAL, {"type": "local", "path": self.paths.default_catalogue})
        self.sections[("profile", LOCAL)] = Section(
            "profile", LOCAL, {"catalogue": LOCAL, "storage": LOCAL,
                               "description": "this computer only: a local folder and the "
                                              "embedded catalogue"})

    def _read(self, path: str, system: bool = False) -> None:
        parser = configparser.ConfigParser(interpolation=None, strict=True,
                                           inline_comment_prefixes=("#", ";"),
                                           default_section="__no_defaults__")
        try:
            with open(path, encoding="utf-8-sig") as f:  # Notepad writes a BOM
                parser.read_file(f, source=path)
        except configparser.MissingSectionHeaderError as e:
            raise ConfigError(f"line {e.lineno} comes before any [section] header; start the file "
                              "with a section such as [settings].", file=path) from None
        except configparser.DuplicateSectionError as e:
            raise ConfigError(f"the section appears twice (line {e.lineno}); merge them.",
                              file=path, section=e.section) from None
        except configparser.DuplicateOptionError as e:
            raise ConfigError(f"the key appears twice (line {e.lineno}); keep one.",
                              file=path, section=e.section, key=e.option) from None
        except configparser.ParsingError as e:
            lines = ", ".join(str(n) for n, _ in e.errors)
            raise ConfigError(f"line {lines} is not 'key = value'; fix or remove it.",
                              file=path) from None
        except UnicodeDecodeError:
            raise ConfigError("the file is not UTF-8 text; save it as UTF-8.", file=path) from None
        except OSError as e:
            raise ConfigError(f"the file cannot be read: {e.strerror}.", file=path) from None
        self.files.append(path)
        for name in parser.sections():
            values = dict(parser.items(name))
            for key in values:
                if _is_secret_key(key):
                    raise ConfigError(
                        "secrets do not belong in configuration files. Store it in the OS "
                        "keyring ('datauploader credentials set …' or 'remember me' at login) or "
                        "pass it in the environment.", file=path, section=name, key=key)
            if name == "settings":
                self._read_settings(values, path, name)
            elif name == "locked":
                if not system:
                    raise ConfigError("only the system-wide configuration may lock settings.",
                                      file=path, section=name)
                for key, text in values.items():
                    value = self._setting_value(key, text, path, name)
                    self.locked[key] = (value, path)
            elif ":" in name:
                kind, _, sname = name.partition(":")
                kind, sname = kind.strip().lower(), sname.strip()
                if kind not in ("profile", "storage", "catalogue"):
                    raise ConfigError(f"unknown kind of section '{kind}'{_suggest(kind, ['profile', 'storage', 'catalogue'])}; "
                                      "use [profile:NAME], [storage:NAME] or [catalogue:NAME].",
                                      file=path, section=name)
                if not sname:
                    raise ConfigError("the section needs a name after the colon.", file=path,
                                      section=name)
                self._read_section(kind, sname, values, path)
            else:
                raise ConfigError(
                    f"unknown section{_suggest(name, ['settings', 'locked'])}; use [settings], "
                    "[locked], [profile:NAME], [storage:NAME] or [catalogue:NAME].",
                    file=path, section=name)

    def _setting_value(self, key: str, text: str, path: str, section: str):
        setting = S.BY_NAME.get(key)
        if setting is None:
            raise ConfigError(f"unknown setting{_suggest(key, S.BY_NAME)}.", file=path,
                              section=section, key=key)
        try:
            return setting.parse(text)
        except ValueError as e:
            raise ConfigError(f"{e}.", file=path, section=section, key=key) from None

    def _read_settings(self, values: dict, path: str, section: str) -> None:
        for key, text in values.items():
            if key == "default_profile":
                self.default_profile = text.strip()
                self.default_profile_source = path
                continue
            if key not in S.BY_NAME:
                raise ConfigError(f"unknown setting{_suggest(key, [*S.BY_NAME, *GLOBAL_KEYS])}.",
                                  file=path, section=section, key=key)
            self.settings[key] = self._setting_value(key, text, path, section)
            self.setting_sources[key] = path

    def _read_section(self, kind: str, name: str, values: dict, path: str) -> None:
        title = f"{kind}:{name}"
        existing = self.sections.get((kind, name))
        if kind in ("storage", "catalogue"):
            registry = BACKENDS if kind == "storage" else CATALOGUES
            typ = values.get("type", existing.values.get("type") if existing else None)
            if not typ:
                raise ConfigError(f"'type' is missing; set it to one of: {', '.join(registry)}.",
                                  file=path, section=title, key="type")
            if typ not in registry:
                raise ConfigError(f"unknown {kind} type '{typ}'{_suggest(typ, registry)}; "
                                  f"known types: {', '.join(registry)}.", file=path,
                                  section=title, key="type")
            if existing and existing.values.get("type") not in (None, typ) and "type" in values:
                existing = None  # redefined with another type: start afresh
            cls = backend_class(typ) if kind == "storage" else catalogue_class(typ)
            options = {o.name: o for o in cls.OPTIONS}
            for key, text in values.items():
                if key == "type":
                    continue
                opt = options.get(key)
                if opt is None:
                    raise ConfigError(f"unknown key for a {typ} {kind}{_suggest(key, options)}; "
                                      f"known keys: {', '.join(options)}.", file=path,
                                      section=title, key=key)
                if opt.secret:
                    raise ConfigError("secrets do not belong in configuration files; use the OS "
                                      "keyring or the environment.", file=path, section=title,
                                      key=key)
                try:
                    opt.parse(text)
                except ValueError as e:
                    raise ConfigError(f"{e}.", file=path, section=title, key=key) from None
        else:
            for key, text in values.items():
                if key in PROFILE_KEYS:
                    continue
                if key not in S.BY_NAME:
                    raise ConfigError(
                        f"unknown key{_suggest(key, [*PROFILE_KEYS, *S.BY_NAME])}; a profile takes "
                        f"{', '.join(PROFILE_KEYS)} and any setting.", file=path, section=title,
                        key=key)
                self._setting_value(key, text, path, title)
        section = existing or Section(kind, name, file=path)
        section.file = path
        for key, text in values.items():
            section.values[key] = text.strip()
            section.sources[key] = path
        self.sections[(kind, name)] = section

    def _validate_references(self) -> None:
        for (kind, name), sec in self.sections.items():
            if kind != "profile":
                continue
            for ref in ("catalogue", "storage"):
                target = sec.values.get(ref)
                if not target:
                    raise ConfigError(f"'{ref}' is missing; name a [{ref}:…] section or 'local'.",
                                      file=sec.file, section=sec.title, key=ref)
                if (ref, target) not in self.sections:
                    known = [n for k, n in self.sections if k == ref]
                    raise ConfigError(
                        f"there is no [{ref}:{target}] section{_suggest(target, known)}; known: "
                        f"{', '.join(known)}.", file=sec.source(ref), section=sec.title, key=ref)
        if ("profile", self.default_profile) not in self.sections:
            raise ConfigError(
                f"there is no profile '{self.default_profile}'"
                f"{_suggest(self.default_profile, self.profile_names())}.",
                file=self.default_profile_source, section="settings", key="default_profile")
        for key, (value, path) in self.locked.items():
            src = self.setting_sources.get(key)
            if src not in (BUILTIN, path, None) and self.settings.get(key) != value:
                self.warnings.append(f"{src} sets {key}, but the system configuration {path} "
                                     f"locks it to {value}.")

    # -- queries ----------------------------------------------------------------------------
    def profile_names(self) -> list[str]:
        return sorted(n for k, n in self.sections if k == "profile")

    def section(self, kind: str, name: str) -> Section:
        try:
            return self.sections[(kind, name)]
        except KeyError:
            known = [n for k, n in self.sections if k == kind]
            raise ConfigError(f"There is no {kind} '{name}'{_suggest(name, known)}; known: "
                              f"{', '.join(sorted(known))}.") from None

    def profile(self, name: str | None = None) -> Section:
        return self.section("profile", name or self.default_profile)

    def effective_settings(self, profile: str | None = None) -> dict[str, object]:
        values = dict(self.settings)
        prof = self.profile(profile)
        for key, text in prof.values.items():
            if key in S.BY_NAME:
                values[key] = S.BY_NAME[key].parse(text)
        for key, (value, _) in self.locked.items():
            values[key] = value
        return values

    def setting_source(self, key: str, profile: str | None = None) -> str:
        if key in self.locked:
            return f"{self.locked[key][1]} [locked]"
        prof = self.profile(profile)
        if key in prof.values:
            return f"{prof.source(key)} [profile:{prof.name}]"
        return self.setting_sources.get(key, BUILTIN)

    def is_locked(self, key: str) -> bool:
        return key in self.locked

    def options(self, kind: str, name: str) -> tuple[str, dict[str, object]]:
        """(type, parsed options with defaults) of a storage or catalogue section."""
        sec = self.section(kind, name)
        typ = sec.values["type"]
        cls = backend_class(typ) if kind == "storage" else catalogue_class(typ)
        out: dict[str, object] = {}
        for opt in cls.OPTIONS:
            if opt.name in sec.values:
                out[opt.name] = opt.parse(sec.values[opt.name])
            elif opt.required:
                raise ConfigError(f"'{opt.name}' is missing: {opt.description}.",
                                  file=sec.file, section=sec.title, key=opt.name)
            elif opt.default is not None:
                out[opt.name] = opt.default
        return typ, out


def save_user_settings(paths: Paths, values: dict[str, object]) -> str:
    """Write ``values`` into the [settings] section of the per-user file (other sections are
    kept; comments are not, as ConfigParser cannot keep them). Atomic replace."""
    path = paths.user_config
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"),
                                       default_section="__no_defaults__")
    if os.path.isfile(path):
        with open(path, encoding="utf-8-sig") as f:
            parser.read_file(f, source=path)
    if not parser.has_section("settings"):
        parser.add_section("settings")
    for key, value in values.items():
        setting = S.BY_NAME[key]
        parser.set("settings", key, setting.format(value))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("# DataUploader settings (written by the settings dialog)\n")
        parser.write(f)
    os.replace(tmp, path)
    return path
