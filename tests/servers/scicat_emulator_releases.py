"""What differs between the scicat-backend-next releases facilities run, as the SciCat
emulator models them (``--release``). Read from the backend's tagged sources:

* v4 routes arrived one resource at a time: ``datasets.v4.controller.ts`` first appears in
  v4.12.0, ``attachments.v4.controller.ts`` in v4.15.0, ``origdatablocks.v4.controller.ts``
  (``POST /api/v4/origdatablocks``) in v4.20.0. Auth, users and proposals stay on /api/v3.
* A partial update zeroes what it does not name: ``UpdateDatasetDto`` gives ``size``,
  ``packedSize`` and ``numberOfFiles`` the initialiser ``= 0``, and class-transformer adds
  them to every PATCH body (backend issues #2746 and #1688, fixed by PR #2862, after 4.27).
  The obsolete (v3) DTO did the same, with ``numberOfFilesArchived`` too, up to v4.14.0.
* ``sourceFolderHost`` is ``@IsFQDN()`` up to v4.25 (a bare host name with a domain: no
  scheme, no port) and ``@IsUrl({require_protocol: false})`` from v4.26.
* "v3" is a server older than every v4 route (4.11 and before).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ZERO_V4 = ("size", "packedSize", "numberOfFiles")
ZERO_V3_OLD = ("size", "packedSize", "numberOfFiles", "numberOfFilesArchived")


@dataclass(frozen=True)
class Release:
    name: str
    v4: frozenset  # resources served under /api/v4
    zero_on_patch_v4: tuple = ()  # fields a v4 PATCH sets to 0 unless it names them
    zero_on_patch_v3: tuple = ()
    host_rule: str = "fqdn"  # how sourceFolderHost is validated: fqdn | url


RELEASES = {r.name: r for r in (
    Release("v3", frozenset(), (), ZERO_V3_OLD),
    Release("4.12", frozenset({"datasets"}), ZERO_V4, ZERO_V3_OLD),
    Release("4.15", frozenset({"datasets", "attachments"}), ZERO_V4),
    Release("4.20", frozenset({"datasets", "attachments", "origdatablocks"}), ZERO_V4),
    Release("4.27", frozenset({"datasets", "attachments", "origdatablocks"}), ZERO_V4,
            host_rule="url"),
)}
LATEST = "4.27"

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_FQDN = re.compile(rf"^(?:{_LABEL}\.)+[A-Za-z]{{2,63}}\.?$")
_URL = re.compile(rf"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:{_LABEL}\.)+[A-Za-z]{{2,63}}"
                  r"(?::\d{1,5})?(?:[/?#]\S*)?$")
_IPV4 = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?"
                   r"(?:[/?#]\S*)?$")


def host_errors(release: Release, value) -> list[str]:
    """class-validator's message for a sourceFolderHost the release refuses."""
    if not isinstance(value, str):
        return ["sourceFolderHost must be a string"]
    if release.host_rule == "fqdn":
        return [] if _FQDN.match(value) else [
            "sourceFolderHost must be a valid domain name"]
    return [] if (_URL.match(value) or _IPV4.match(value)) else [
        "sourceFolderHost must be a URL address"]
