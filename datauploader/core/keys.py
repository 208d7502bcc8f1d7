"""Remote keys: a prefix template filled in, joined with each file's relative path, made safe.

Safe means: no ``..`` or ``.`` component and no absolute path, so that a key can never escape
its prefix whatever a dataset name or a file name contains; names valid on the target
(Windows forbids ``<>:"|?*`` and names such as ``CON``); Unicode in NFC form, so that a file
named on macOS and one named on Windows land on the same key.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import posixpath
import string
import unicodedata

from datauploader.errors import ConfigError, UnsafeKeyError
from datauploader.names import NameRules

#: placeholders a prefix template may use
PLACEHOLDERS = ("proposal", "dataset", "user", "date", "year", "month", "day", "type", "sample",
                "instrument")

def check_component(part: str, what: str) -> None:
    if part in (".", ".."):
        raise UnsafeKeyError(
            f"The {what} '{part}' would place files outside the storage prefix; choose another name.")


def fill_prefix(template: str, values: dict[str, str], rules: NameRules) -> str:
    """Fill ``template`` (e.g. ``{proposal}/{dataset}``) and return a safe relative prefix."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:  # an unbalanced brace
        raise ConfigError(f"'{template}' is not a valid template ({e}); write placeholders as "
                          "{proposal}, and a literal brace as {{ or }}.", key="prefix") from None
    for f in fields:
        if f not in PLACEHOLDERS:
            raise ConfigError(f"unknown placeholder {{{f}}} in '{template}'; use "
                              + ", ".join("{" + p + "}" for p in PLACEHOLDERS), key="prefix")
    now = _dt.datetime.now()
    defaults = {"user": _safe_user(), "date": now.strftime("%Y-%m-%d"), "year": f"{now.year:04d}",
                "month": f"{now.month:02d}", "day": f"{now.day:02d}", "type": "raw", "sample": "",
                "instrument": "", "proposal": "", "dataset": ""}
    merged = {**defaults, **{k: v for k, v in values.items() if v is not None}}
    safe_values = {}
    for k in fields:
        v = unicodedata.normalize("NFC", str(merged.get(k, "")).strip())
        # a value is one path component: separators inside it are not structure
        v = v.strip("/").replace("/", "_").replace("\\", "_")  # /SPACE/PROJ/COLL → SPACE_…
        if f"{{{k}}}" in template and not v and k in ("proposal", "dataset"):
            raise UnsafeKeyError(f"The {k} is empty; give a {k} name.")
        check_component(v, {"dataset": "dataset name", "proposal": "proposal"}.get(k, k))
        safe_values[k] = v
    filled = template.format(**safe_values)
    return join_safe("", filled, rules, what="storage prefix")


def join_safe(prefix: str, relpath: str, rules: NameRules, what: str = "file name") -> str:
    """``prefix/relpath`` with every component checked and fixed; raises UnsafeKeyError."""
    relpath = unicodedata.normalize("NFC", relpath.replace("\\", "/"))
    parts = []
    for part in relpath.split("/"):
        if part == "":
            continue  # leading '/', '//' : never absolute, never empty components
        check_component(part, what)
        fixed = rules.fix_component(part)
        if len(fixed.encode("utf-8")) > rules.max_component_bytes:
            raise UnsafeKeyError(f"The name '{part[:40]}…' is too long for the storage target "
                                 f"({rules.max_component_bytes} bytes at most).")
        parts.append(fixed)
    rel = "/".join(parts)
    key = f"{prefix}/{rel}" if prefix and rel else (prefix or rel)
    # belt and braces: normalising must not change it, and it must stay under the prefix
    if posixpath.normpath(key) != key or key.startswith("/") or (
            prefix and not key.startswith(prefix + "/") and key != prefix):
        raise UnsafeKeyError(f"The remote key '{key}' would escape the storage prefix '{prefix}'.")
    if len(key.encode("utf-8")) > rules.max_key_bytes:
        raise UnsafeKeyError(f"The remote key for '{relpath}' is longer than the storage target "
                             f"allows ({rules.max_key_bytes} bytes).")
    return key


def _safe_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some service accounts
        return "unknown"


def dataset_key(catalogue: str, proposal: str, dataset: str, storage: str, prefix: str) -> str:
    """Identifies an upload target; stored with the dataset so that re-runs find it again."""
    raw = "\x1f".join((catalogue, proposal, dataset, storage, prefix))
    return "du-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:24]
