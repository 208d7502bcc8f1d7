"""The catalogue protocol: what every catalogue client (local, ICAT, SciCat, openBIS) offers.

Catalogue clients speak one catalogue's protocol and nothing else; the engine decides what to
register and when. Two promises every client keeps, because resume depends on them:

* ``find_dataset`` finds a dataset this tool created earlier for the same target (by the
  ``dataset_key`` stored with it), so a resumed or re-run job never creates a second one;
* ``register_datafiles`` is idempotent: a datafile already registered with the same name and
  checksum is returned, not duplicated; the same name with another checksum is an error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from datauploader.options import Option, keyring_service


@dataclass(frozen=True)
class CredentialField:
    """One field of the login form (the GUI shows exactly these, in order)."""

    name: str  # key in the credentials dict; DATAUPLOADER_<NAME> in the environment
    label: str
    secret: bool = False  # hidden while typed, kept only in the OS keyring
    required: bool = True
    choices: tuple[str, ...] = ()  # e.g. ICAT authenticator mnemonics
    default: str = ""
    #: what to show for each choice (e.g. ICAT's friendly authenticator names); the value
    #: given to ``login`` stays the choice itself
    choice_labels: tuple[str, ...] = ()

    def label_of(self, choice: str) -> str:
        if choice in self.choices and len(self.choice_labels) == len(self.choices):
            return self.choice_labels[self.choices.index(choice)] or choice
        return choice


@dataclass(frozen=True)
class DatasetField:
    """A dataset field a catalogue takes beyond the common ones (name, description, keywords,
    metadata): its value travels in the dataset's metadata under ``name`` (``--meta
    name=value``; a row of the window's metadata table), and the catalogue takes it out."""

    name: str
    label: str
    help: str = ""
    kind: str = "text"  # text | integer


@dataclass(frozen=True)
class Investigation:
    id: str
    proposal: str  # the name users know it by (proposal number, visit id, …)
    title: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    dataset_key: str  # identifies our target, stored with the dataset
    description: str = ""
    dataset_type: str = "raw"
    sample: str = ""
    keywords: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)
    location: str = ""  # where its files land (source folder / prefix)
    storage_root: str = ""  # the storage's location of the empty key: the target itself


@dataclass(frozen=True)
class DatafileSpec:
    name: str  # path within the dataset, '/'-separated
    size: int
    checksum: str
    algorithm: str
    location: str
    mtime: float  # seconds since the epoch
    local_path: str = ""  # the file on this computer (a catalogue may attach it, e.g. a thumbnail)


@dataclass(frozen=True)
class DatafileRecord:
    id: str
    name: str
    size: int
    checksum: str | None
    algorithm: str | None
    location: str | None


@dataclass(frozen=True)
class DatasetRecord:
    id: str
    investigation_id: str
    name: str
    complete: bool
    dataset_key: str | None = None
    description: str = ""
    dataset_type: str = ""
    sample: str = ""
    keywords: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)
    location: str = ""
    datafiles: tuple[DatafileRecord, ...] = ()


class Catalogue(ABC):
    kind: ClassVar[str] = ""
    OPTIONS: ClassVar[tuple[Option, ...]] = ()
    #: whether users may create investigations/proposals from this tool
    can_create_investigations: ClassVar[bool] = False
    #: whether metadata may have any key (SciCat, local); False: only names the catalogue
    #: declares (ICAT parameter types, openBIS property types), so unmapped keys are left out
    free_metadata: ClassVar[bool] = True

    @classmethod
    def from_config(cls, options: dict, ctx) -> "Catalogue":
        """Build from a section's parsed ``options`` (``ctx``: the service's BuildContext)."""
        return cls(**options)

    def credential_fields(self) -> list[CredentialField]:
        """The login form's fields; empty when no login is needed. May ask the server (ICAT
        lists its authenticators and their keys)."""
        return []

    def kept_login(self, credentials: dict[str, str]) -> str | None:
        """Log in again with what this catalogue keeps itself (a refresh token in the OS
        keyring), when the secret is not at hand; the user name, or None when it keeps
        nothing usable for these credentials."""
        return None

    def forget_kept_login(self, credentials: dict[str, str]) -> bool:
        """Forget what ``kept_login`` would use; whether there was something."""
        return False

    def dataset_fields(self) -> list[DatasetField]:
        """The dataset fields this catalogue takes beyond the common ones."""
        return []

    def check_values(self, spec: "DatasetSpec") -> None:
        """Refuse, before anything is sent, values this catalogue would never take (its
        documented limits: ``InputError`` naming the field and the rule); needs no login.
        ``check_dataset`` (after the login) asks the server about the rest."""

    def keyring_service(self) -> str:
        """One OS-keyring service name per catalogue endpoint."""
        return keyring_service(self.kind, self.describe())

    @abstractmethod
    def describe(self) -> str:
        """Which catalogue (no secrets), for messages and the journal."""

    @abstractmethod
    def login(self, credentials: dict[str, str]) -> str:
        """Log in; return the user name as the catalogue knows it. Raises AuthError."""

    def logout(self) -> None:
        pass

    def login_ends(self) -> float | None:
        """When the login ends for good (seconds since the epoch): a token this tool cannot
        renew. None when it does not end, or is renewed while it is used."""
        return None

    def describe_server(self) -> list[str]:
        """What the server offers, one short line each, asked without logging in (for
        ``config check --online``): its version, routes, authenticators …"""
        return []

    @abstractmethod
    def investigations(self, search: str | None = None) -> list[Investigation]:
        """The investigations/proposals the user may add datasets to."""

    @abstractmethod
    def find_investigation(self, proposal: str) -> Investigation | None:
        ...

    def create_investigation(self, proposal: str, title: str = "") -> Investigation:
        from datauploader.errors import PermissionDeniedError
        raise PermissionDeniedError(
            f"Proposal {proposal} is not in the catalogue and {self.describe()} does not let "
            "this tool create one; ask the user office, or check the proposal number.")

    def check_dataset(self, investigation_id: str, spec: DatasetSpec) -> list[str]:
        """Before anything moves: refuse (InputError, one sentence) a dataset the catalogue
        will not take (an unknown type, a required property missing …); returns notices for
        the operator. Needs the login."""
        return []

    @abstractmethod
    def find_dataset(self, investigation_id: str, name: str, dataset_key: str) -> DatasetRecord | None:
        """The dataset of that name in that investigation, if any (with its key)."""

    @abstractmethod
    def create_dataset(self, investigation_id: str, spec: DatasetSpec) -> DatasetRecord:
        ...

    @abstractmethod
    def get_dataset(self, dataset_id: str) -> DatasetRecord:
        """The dataset with its datafiles (read back)."""

    @abstractmethod
    def register_datafiles(self, dataset_id: str, files: list[DatafileSpec]) -> list[str]:
        """Register a batch; returns datafile ids in the same order. Idempotent."""

    @abstractmethod
    def finalize_dataset(self, dataset_id: str) -> None:
        """Mark the dataset complete (no more files)."""

    def close(self) -> None:
        pass


class SharesSession(ABC):
    """Optional: a catalogue whose login a storage backend works in too (ICAT's session, in
    which IDS stores the bytes). The service hands ``shared_session()`` to that storage."""

    @abstractmethod
    def shared_session(self):
        """The logged-in session object (e.g. ``net.icat.ICATSession``)."""


class RegistersAtEnd(ABC):
    """Optional: a catalogue whose dataset is made in one call with all its files, once they
    are stored (openBIS). ``create_dataset`` only reserves the dataset's id; the engine calls
    ``register_dataset`` after the closing check, and ``register_datafiles`` never. Calling it
    again for a dataset it made returns the same ids and makes nothing new."""

    @abstractmethod
    def register_dataset(self, dataset_id: str, investigation_id: str, spec: DatasetSpec,
                         files: list[DatafileSpec]) -> list[str]:
        """Register the dataset with ``files``; the datafile ids in the same order."""


@dataclass(frozen=True)
class PropertyField:
    """One property a dataset type declares (the window builds its form from these)."""

    code: str
    label: str
    data_type: str  # VARCHAR, MULTILINE_VARCHAR, REAL, INTEGER, BOOLEAN, TIMESTAMP, DATE …
    mandatory: bool = False
    section: str = ""
    description: str = ""


@dataclass(frozen=True)
class DatasetType:
    code: str
    description: str = ""
    properties: tuple[PropertyField, ...] = ()


@dataclass(frozen=True)
class Entry:
    """One place data can belong to: a space, project, collection or object."""

    id: str  # e.g. /SPACE/PROJECT/COLLECTION
    code: str
    kind: str  # space | project | collection | object
    label: str = ""
    writable: bool = True  # the user may add datasets here (collections and objects)


class BrowsesEntries(ABC):
    """Optional: a catalogue where data belongs to a tree of entries the operator picks from
    level by level (openBIS: space → project → collection, and optionally an object)."""

    #: the kinds of the levels, top first
    entry_levels: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def entries(self, parent: str | None = None, search: str | None = None) -> list[Entry]:
        """The entries under ``parent`` (None: the top level) the user can see."""

    @abstractmethod
    def dataset_types(self) -> list[DatasetType]:
        """The dataset types, with the properties each declares."""
