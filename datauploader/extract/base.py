"""The plug-in interface every metadata parser implements.

A parser is a class with a ``code`` (what ``--parser`` names), the file name patterns it
accepts and ``extract(path)``, which returns ``{key: Value}``. Third-party parsers are
installed as packages declaring an entry point in the group ``datauploader.extractors``::

    [project.entry-points."datauploader.extractors"]
    xrd = "mylab.parsers:XRDExtractor"

Rules a parser keeps: read only what describes the file (headers, attributes, the first lines),
at most ``HEADER_LIMIT`` bytes of plain text, never a whole data array; raise
``ExtractionError`` (one plain sentence) for a file it cannot read; never change the file.
"""

from __future__ import annotations

import fnmatch
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Union

from datauploader.errors import UserFacingError

#: at most this many bytes of a text file are read by a parser (headers only)
HEADER_LIMIT = 64 * 1024
#: arrays with more elements than this are never read: only their shape is reported
SMALL_ARRAY = 16

Scalar = Union[str, int, float, bool]


class ExtractionError(UserFacingError):
    """A file a parser could not read; the upload goes on without its metadata."""


@dataclass(frozen=True)
class Value:
    """One metadata value, with its unit when the file states one."""

    value: Scalar
    unit: str = ""

    def text(self) -> str:
        """The value as a catalogue property takes it (units are kept apart)."""
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        if isinstance(self.value, float):
            return repr(self.value)
        return str(self.value)


#: key → value, keys as the parser names them (e.g. ``/entry/instrument/name``)
Metadata = dict[str, Value]


class Extractor(ABC):
    """One kind of file. Instances are cheap and used from several threads at once."""

    code: ClassVar[str] = ""
    label: ClassVar[str] = ""
    #: name patterns (case-insensitive globs) of the files it reads
    patterns: ClassVar[tuple[str, ...]] = ()

    def accepts(self, path: str) -> bool:
        name = os.path.basename(path).lower()
        return any(fnmatch.fnmatchcase(name, p.lower()) for p in self.patterns)

    @abstractmethod
    def extract(self, path: str) -> Metadata:
        """The file's metadata; raises ExtractionError for a file it cannot read."""


def scalar(value) -> Scalar | None:
    """A plain Python value from what a library returns (numpy scalars, bytes); None when
    it is not a scalar worth keeping."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8").rstrip("\x00")
        except UnicodeDecodeError:
            return None
    for kind in (bool, int, float, str):  # numpy's float64 is a float: made a plain one
        if isinstance(value, kind):
            return kind(value)
    item = getattr(value, "item", None)  # numpy scalars and 0-d / 1-element arrays
    size = getattr(value, "size", None)
    if item is not None and size in (None, 1):
        try:
            return scalar(item())
        except (ValueError, TypeError):
            return None
    return None
