"""Side-car files: JSON or YAML written beside the data (``scan1.json`` next to ``scan1.h5``),
holding the metadata the instrument or the operator recorded.

Nested objects become dotted keys (``sample.temperature``); an object with exactly ``value``
and ``unit`` (SciCat's convention) is one value with its unit; lists of scalars are joined
with ", ". A side-car larger than ``SIDECAR_LIMIT`` is refused (it is data, not metadata).
"""

from __future__ import annotations

import json
import os

from datauploader.extract.base import ExtractionError, Extractor, Metadata, Value, scalar

SIDECAR_LIMIT = 1 << 20


class _SideCar(Extractor):
    def extract(self, path: str) -> Metadata:
        try:
            if os.path.getsize(path) > SIDECAR_LIMIT:
                raise ExtractionError(f"{path} is larger than {SIDECAR_LIMIT >> 20} MiB; it is "
                                      "read as data, not as a side-car of metadata.")
            with open(path, "rb") as f:
                doc = self.load(f.read())
        except OSError as e:
            raise ExtractionError(f"{path} cannot be read ({e.strerror or e}).") from None
        except ValueError as e:
            raise ExtractionError(f"{path} is not valid {self.label.split()[0]} ({e}).") from None
        if not isinstance(doc, dict):
            raise ExtractionError(f"{path} holds no key/value metadata (its top level is not "
                                  "an object).")
        out: Metadata = {}
        flatten(out, "", doc)
        return out

    def load(self, data: bytes):
        raise NotImplementedError


def flatten(out: Metadata, prefix: str, doc: dict) -> None:
    for k, v in doc.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            if set(v) == {"value", "unit"} and scalar(v["value"]) is not None:
                out[key] = Value(scalar(v["value"]), str(v["unit"] or ""))
            else:
                flatten(out, key, v)
        elif isinstance(v, list):
            items = [scalar(i) for i in v]
            if all(i is not None for i in items):
                out[key] = Value(", ".join(Value(i).text() for i in items))
        elif v is not None and scalar(v) is not None:
            out[key] = Value(scalar(v))
        elif v is not None:
            out[key] = Value(str(v))  # dates YAML parsed, and the like


class JSONExtractor(_SideCar):
    code = "json"
    label = "JSON side-car"
    patterns = ("*.json",)

    def load(self, data: bytes):
        return json.loads(data.decode("utf-8-sig"))  # ValueError: not JSON


class YAMLExtractor(_SideCar):
    code = "yaml"
    label = "YAML side-car"
    patterns = ("*.yaml", "*.yml")

    def load(self, data: bytes):
        import yaml

        try:
            return yaml.safe_load(data.decode("utf-8-sig"))
        except yaml.YAMLError as e:
            raise ValueError(str(e).splitlines()[0]) from None
