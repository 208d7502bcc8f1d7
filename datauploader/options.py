"""Declarations shared by every storage backend and catalogue client: the configuration keys
each accepts (``Option``) and the one secret each may need (``SecretSlot``).

The configuration loader validates sections against ``OPTIONS``, ``config show`` prints them,
and the service stores and finds secrets through the slot a backend declares, so no other
module has to know how a backend names its keyring entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from datauploader import units


@dataclass(frozen=True)
class Option:
    """A configuration key a backend or catalogue accepts (also drives `config show`)."""

    name: str
    description: str
    default: object = None
    type: type | str = str  # str, int, float, bool, or "size" (8M, 1G …)
    required: bool = False
    choices: tuple = ()
    secret: bool = False  # never in a file: keyring or environment
    minimum: float | None = None  # for numbers

    def parse(self, text: str):
        """Text from a configuration file → value; raises ValueError with a plain reason."""
        t = text.strip()
        if self.choices and t.lower() not in self.choices:
            raise ValueError(f"'{t}' is not one of: {', '.join(self.choices)}")
        if self.type in (int, float):
            try:
                value = self.type(t)
            except ValueError:
                kind = "a whole number" if self.type is int else "a number"
                raise ValueError(f"'{t}' is not {kind}") from None
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"{t} is below the minimum {self.minimum:g}")
            return value
        if self.type is bool:
            return units.parse_bool(t)
        if self.type == "size":
            return units.parse_size(t)
        return t


def keyring_service(kind: str, endpoint: str) -> str:
    """One OS-keyring service name per endpoint: ``datauploader:<kind>:<endpoint>``."""
    return f"datauploader:{kind}:{endpoint}"


@dataclass(frozen=True)
class SecretSlot:
    """Where a backend's secret lives in the OS keyring, and how to ask for it.

    ``service`` and ``user`` are the keyring entry; ``prompt`` is what a terminal or a dialog
    asks ("Secret access key for AKIA… at https://…"); ``what`` names it in messages."""

    service: str
    user: str
    prompt: str
    what: str
