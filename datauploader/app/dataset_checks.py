"""What the front-ends ask about a dataset before it is uploaded: the metadata its files'
headers hold (the profile's parsers, mapped to the catalogue's names), whether the catalogue
will take it, and where it can belong (openBIS's entries and dataset types).

A mixin of ``Service``: it uses the service's configuration and catalogues."""

from __future__ import annotations

from dataclasses import dataclass, field

from datauploader.catalogue.base import BrowsesEntries, DatasetSpec, DatasetType, Entry
from datauploader.core.models import DatasetDefinition
from datauploader.extract import registry
from datauploader.extract.mapping import Mapping
from datauploader.extract.run import extract
from datauploader.units import human_duration


@dataclass
class ExtractedMetadata:
    """Metadata from the files, under the catalogue's names, ready for the definition."""

    values: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    files_read: int = 0
    seconds: float = 0.0


class DatasetChecks:
    def parser_codes(self, profile: str | None = None, given=None) -> list[str]:
        """The parsers to run: those given (``--parser``, comma or space separated), else the
        profile's ``parsers`` setting."""
        text = " ".join(given) if given else str(self.settings_values(profile)["parsers"])
        return [c for c in text.replace(",", " ").split() if c]

    def extract_metadata(self, plan, profile: str | None = None, parsers=None) -> ExtractedMetadata:
        """Run the parsers over the plan's files (headers only) and map their keys to the
        catalogue's names; a file a parser cannot read is a notice, never a failure."""
        codes = self.parser_codes(profile, parsers)
        out = ExtractedMetadata()
        if not codes:
            return out
        chosen = registry.chosen(codes)
        found = extract(((f.path, f.relpath) for f in plan.files), chosen)
        path = str(self.settings_values(profile)["metadata_mapping"])
        mapping = Mapping.load(path) if path else Mapping()
        cat = self.catalogue(profile)
        mapped = mapping.apply(found.metadata, cat.kind, keep_unmapped=cat.free_metadata)
        out.values, out.units = mapped.values, mapped.units
        out.files_read, out.seconds = found.files_read, found.seconds
        out.notices = list(found.problems)
        if mapped.left_out:
            out.notices.append(
                f"{len(mapped.left_out)} metadata keys have no name in {cat.describe()} and are "
                f"left out (e.g. {', '.join(mapped.left_out[:3])}); name them in the "
                "metadata mapping file (metadata_mapping) to keep them")
        if found.varying:
            out.notices.append(f"{', '.join(found.varying[:5])} differ between files; the first "
                               "file's value is kept")
        if found.files_read:
            out.notices.insert(0, f"metadata read from {found.files_read} files in "
                                  f"{human_duration(found.seconds)}")
        return out

    def check_dataset(self, definition: DatasetDefinition, profile: str | None = None) -> list[str]:
        """The catalogue's refusal (InputError …) of a dataset before anything moves, or its
        notices. Needs the login."""
        spec = DatasetSpec(name=definition.name, dataset_key="", description=definition.description,
                           dataset_type=definition.dataset_type, sample=definition.sample,
                           keywords=tuple(definition.keywords), metadata=dict(definition.metadata))
        return self.catalogue(profile).check_dataset(definition.proposal, spec)

    def browses_entries(self, profile: str | None = None) -> bool:
        return isinstance(self.catalogue(profile), BrowsesEntries)

    def entries(self, profile: str | None = None, parent: str | None = None,
                search: str | None = None) -> list[Entry]:
        cat = self.catalogue(profile)
        return cat.entries(parent, search) if isinstance(cat, BrowsesEntries) else []

    def dataset_types(self, profile: str | None = None) -> list[DatasetType]:
        cat = self.catalogue(profile)
        return cat.dataset_types() if isinstance(cat, BrowsesEntries) else []
