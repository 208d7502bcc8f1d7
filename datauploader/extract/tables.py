"""CSV and TSV files: the preamble instruments write above the table, and the column header.

Only the first ``HEADER_LIMIT`` bytes are read. Lines before the table that start with ``#``
(or ``%``) and hold ``key: value`` or ``key = value`` become metadata under their key; the
first other line is the column header: ``columns`` lists the names, and a unit written in the
name (``time (s)``, ``voltage [V]``) becomes the unit of ``column/<name>``, whose value is the
column's position (1 for the first).
"""

from __future__ import annotations

import csv
import io
import re

from datauploader.extract.base import HEADER_LIMIT, ExtractionError, Extractor, Metadata, Value

_PAIR = re.compile(r"^\s*([^:=]+?)\s*[:=]\s*(.*?)\s*$")
_UNIT = re.compile(r"^(.*?)\s*[\(\[]\s*([^\)\]]+?)\s*[\)\]]$")


def typed(text: str):
    """'12' → 12, '1.5e3' → 1500.0, 'true' → True; anything else stays text."""
    t = text.strip()
    for kind in (int, float):
        try:
            return kind(t)
        except ValueError:
            pass
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    return t


class _Table(Extractor):
    delimiter = ","

    def extract(self, path: str) -> Metadata:
        try:
            with open(path, "rb") as f:
                head = f.read(HEADER_LIMIT)
        except OSError as e:
            raise ExtractionError(f"{path} cannot be read ({e.strerror or e}).") from None
        text = head.decode("utf-8-sig", errors="replace")
        lines = text.splitlines()
        if len(head) == HEADER_LIMIT and lines:
            lines = lines[:-1]  # the last line may be cut in the middle
        out: Metadata = {}
        for line in lines:
            if not line.strip():
                continue
            if line.lstrip()[:1] in ("#", "%"):
                m = _PAIR.match(line.lstrip().lstrip("#%"))
                if m and m.group(1):
                    out[m.group(1)] = Value(typed(m.group(2)))
                continue
            names = next(csv.reader(io.StringIO(line), delimiter=self.delimiter), [])
            names = [n.strip() for n in names]
            out["columns"] = Value(", ".join(names))
            for i, name in enumerate(names, 1):
                m = _UNIT.match(name)
                if m:
                    out[f"column/{m.group(1)}"] = Value(i, m.group(2))
            break
        return out


class CSVExtractor(_Table):
    code = "csv"
    label = "CSV header"
    patterns = ("*.csv",)


class TSVExtractor(_Table):
    code = "tsv"
    label = "TSV header"
    patterns = ("*.tsv", "*.tab")
    delimiter = "\t"
