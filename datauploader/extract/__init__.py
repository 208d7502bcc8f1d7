"""Metadata extraction: parsers that read a file's header and return key/value metadata with
units, and the mapping that turns their keys into a catalogue's names.

Used by the service (``upload --parser``, extraction before a job) and the window (extracted
metadata shown, editable, before the upload), for every catalogue. A parser reads headers
only, never a whole large file, so extracting never slows the transfer that follows.

Modules: ``base`` (the plug-in interface), ``registry`` (built-in parsers and those installed
under the entry point group ``datauploader.extractors``), ``hdf5`` (HDF5 and NeXus), ``tiff``,
``tables`` (CSV/TSV headers), ``sidecar`` (JSON/YAML side-car files), ``mapping`` (parser keys
→ catalogue names) and ``run`` (a plan's files through the chosen parsers).
"""

from datauploader.extract.base import Extractor, Metadata, Value

__all__ = ["Extractor", "Metadata", "Value"]
