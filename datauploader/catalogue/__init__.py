"""Catalogue clients: each speaks one catalogue's protocol. Chosen by ``type`` in a
[catalogue:…] section."""

from __future__ import annotations

import importlib

#: type name → "module:Class", imported only when used
CATALOGUES = {
    "local": "datauploader.catalogue.local:LocalCatalogue",
    "icat": "datauploader.catalogue.icat:ICATCatalogue",
    "scicat": "datauploader.catalogue.scicat:SciCatCatalogue",
    "openbis": "datauploader.catalogue.openbis.catalogue:OpenBISCatalogue",
    "etiket": "datauploader.catalogue.etiket:EtiketCatalogue",
}


def catalogue_class(kind: str):
    module, _, name = CATALOGUES[kind].partition(":")
    return getattr(importlib.import_module(module), name)
