"""Dataset templates: a definition (metadata, patterns, mode) saved per beamline or
experiment, to start the next dataset from. JSON files in the user's data directory."""

from __future__ import annotations

import json
import os
import re

from datauploader.core.models import DatasetDefinition
from datauploader.errors import InputError

# what a template keeps: everything but the files themselves and the dataset's own name
FIELDS = ("proposal", "description", "dataset_type", "sample", "keywords", "metadata",
          "include", "exclude", "mode", "investigation_title")


class Templates:
    def __init__(self, folder: str):
        self.folder = folder

    def _path(self, name: str) -> str:
        safe = re.sub(r"[^\w .-]", "_", name).strip()
        if not safe or safe.startswith("."):
            raise InputError("Give the template a name (letters, digits, spaces, '-', '_').")
        return os.path.join(self.folder, safe + ".json")

    def names(self) -> list[str]:
        if not os.path.isdir(self.folder):
            return []
        return sorted(n[:-5] for n in os.listdir(self.folder) if n.endswith(".json"))

    def save(self, name: str, definition: DatasetDefinition) -> str:
        os.makedirs(self.folder, exist_ok=True)
        data = json.loads(definition.to_json())
        path = self._path(name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({k: data[k] for k in FIELDS}, f, ensure_ascii=False, indent=2)
        os.replace(tmp, path)
        return path

    def load(self, name: str) -> DatasetDefinition:
        try:
            with open(self._path(name), encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise InputError(f"There is no template '{name}'.") from None
        except (OSError, ValueError) as e:
            raise InputError(f"The template '{name}' cannot be read ({e}).") from None
        return DatasetDefinition(name="", **{k: v for k, v in data.items() if k in FIELDS})

    def delete(self, name: str) -> None:
        try:
            os.unlink(self._path(name))
        except FileNotFoundError:
            pass
