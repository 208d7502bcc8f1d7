"""The mapping file: parser keys → the names a catalogue knows them by (openBIS property
codes, SciCat ``scientificMetadata`` keys, ICAT parameter type names).

A YAML (or JSON) file, one entry per parser key::

    /entry/instrument/name:          # a key as the parser gives it
      openbis: INSTRUMENT            # per catalogue type ...
      icat: instrument_name
      "*": instrument                # ... and for every other one
    /entry/sample/temperature: SAMPLE_TEMPERATURE   # the same name everywhere
    "/entry/*/end_time": END_TIME    # a glob matches several keys (the first match wins)
    Software: null                   # never sent

A key the mapping does not name keeps its own name where the catalogue takes any key (SciCat,
the local catalogue) and is left out where names must be declared first (openBIS, ICAT).
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass, field

from datauploader.errors import ConfigError
from datauploader.extract.base import Metadata


@dataclass
class Mapped:
    """What goes to one catalogue: values by its names, their units, and what was left out."""

    values: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # parser keys without a name there


_DROP = object()


class Mapping:
    def __init__(self, entries: dict | None = None, source: str = ""):
        self.source = source
        self.exact: dict[str, object] = {}
        self.globs: list[tuple[str, object]] = []
        for key, target in (entries or {}).items():
            if not isinstance(target, (str, dict)) and target is not None:
                raise ConfigError(f"the mapping of '{key}' must be a name, a table of names per "
                                  "catalogue type, or null", file=source or None)
            (self.globs.append((key, target)) if any(c in key for c in "*?[")
             else self.exact.__setitem__(key, target))

    @classmethod
    def load(cls, path: str) -> "Mapping":
        path = os.path.expanduser(path)
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8-sig")
        except OSError as e:
            raise ConfigError(f"the metadata mapping file cannot be read ({e.strerror or e})",
                              file=path) from None
        try:
            if path.lower().endswith(".json"):
                doc = json.loads(text)
            else:
                import yaml
                doc = yaml.safe_load(text)
        except Exception as e:  # noqa: BLE001 - YAML and JSON errors alike
            raise ConfigError(f"the metadata mapping file is not valid "
                              f"({str(e).splitlines()[0]})", file=path) from None
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise ConfigError("the metadata mapping file must map parser keys to names",
                              file=path)
        return cls({str(k): v for k, v in doc.items()}, path)

    def name_for(self, key: str, kind: str):
        """The catalogue's name for ``key``; None: not mapped; ``_DROP``: never sent."""
        target = self.exact.get(key, _MISSING)
        if target is _MISSING:
            target = next((t for g, t in self.globs if fnmatch.fnmatchcase(key, g)), _MISSING)
        if target is _MISSING:
            return None
        if isinstance(target, dict):
            target = target.get(kind, target.get("*", _MISSING))
            if target is _MISSING:
                return None
        return _DROP if target in (None, "") else str(target)

    def apply(self, metadata: Metadata, kind: str, keep_unmapped: bool) -> Mapped:
        out = Mapped()
        for key, value in metadata.items():
            name = self.name_for(key, kind)
            if name is _DROP:
                continue
            if name is None:
                if not keep_unmapped:
                    out.left_out.append(key)
                    continue
                name = key
            if name in out.values:
                continue  # two parser keys onto one name: the first one wins
            out.values[name] = value.text()
            if value.unit:
                out.units[name] = value.unit
        return out


_MISSING = object()
