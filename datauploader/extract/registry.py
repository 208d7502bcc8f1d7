"""Which parsers there are: the built-in ones and those installed as plug-ins (entry point
group ``datauploader.extractors``), by code."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from datauploader.errors import InputError
from datauploader.extract.base import Extractor
from datauploader.extract.hdf5 import HDF5Extractor
from datauploader.extract.sidecar import JSONExtractor, YAMLExtractor
from datauploader.extract.tables import CSVExtractor, TSVExtractor
from datauploader.extract.tiff import TIFFExtractor

log = logging.getLogger(__name__)

GROUP = "datauploader.extractors"
BUILT_IN: tuple[type[Extractor], ...] = (HDF5Extractor, TIFFExtractor, CSVExtractor,
                                         TSVExtractor, JSONExtractor, YAMLExtractor)


def available() -> dict[str, Extractor]:
    """Every parser by code: built-in first; a plug-in may not take a built-in's code."""
    out: dict[str, Extractor] = {cls.code: cls() for cls in BUILT_IN}
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
            parser = cls()
        except Exception:  # noqa: BLE001 - one broken plug-in must not stop the others
            log.warning("the metadata parser plug-in %s cannot be loaded", ep.value,
                        exc_info=True)
            continue
        if not isinstance(parser, Extractor) or not parser.code:
            log.warning("the plug-in %s is not a metadata parser (an Extractor with a code)",
                        ep.value)
        elif parser.code in out:
            log.warning("the plug-in %s takes the code '%s' of a parser already there; "
                        "it is left out", ep.value, parser.code)
        else:
            out[parser.code] = parser
    return out


def chosen(codes) -> list[Extractor]:
    """The parsers named (``--parser``); an unknown code is refused with the known ones."""
    parsers = available()
    out = []
    for code in codes:
        code = code.strip()
        if code not in parsers:
            raise InputError(f"There is no metadata parser '{code}'; the parsers are: "
                             f"{', '.join(sorted(parsers))}.")
        out.append(parsers[code])
    return out
