"""A plan's files through the chosen parsers: the metadata of each file, and the dataset's.

Each parser reads the files it accepts (headers only). The dataset's metadata is, key by key,
the value of the first file (in the plan's order) that has it; keys whose values differ
between files are named in ``varying`` so that front-ends can say which value was kept. A
file a parser cannot read is a ``problem`` (one sentence), never a failure of the upload.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

from datauploader.extract.base import ExtractionError, Extractor, Metadata, Value


@dataclass
class Extraction:
    metadata: Metadata = field(default_factory=dict)  # the dataset's
    per_file: dict[str, Metadata] = field(default_factory=dict)  # relpath → its metadata
    varying: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files_read: int = 0
    seconds: float = 0.0


def extract(files: Iterable[tuple[str, str]], parsers: list[Extractor]) -> Extraction:
    """``files``: (local path, name in the dataset) in the plan's order."""
    started = time.perf_counter()
    result = Extraction()
    varying: set[str] = set()
    for path, relpath in files:
        for parser in parsers:
            if not parser.accepts(path):
                continue
            try:
                found = parser.extract(path)
            except ExtractionError as e:
                result.problems.append(str(e))
                continue
            except Exception as e:  # noqa: BLE001 - a plug-in's bug costs its metadata only
                result.problems.append(f"The '{parser.code}' parser failed on {relpath} "
                                       f"({type(e).__name__}: {e}).")
                continue
            result.files_read += 1
            result.per_file.setdefault(relpath, {}).update(found)
            for key, value in found.items():
                first = result.metadata.setdefault(key, value)
                if first != value:
                    varying.add(key)
    result.varying = sorted(varying)
    result.seconds = time.perf_counter() - started
    return result


def as_values(metadata: dict[str, str], units: dict[str, str] | None = None) -> Metadata:
    """Metadata typed in by the operator, as parser output (for one merge rule)."""
    units = units or {}
    return {k: Value(v, units.get(k, "")) for k, v in metadata.items()}
