"""HDF5 and NeXus files (h5py): attributes, and the small fields of every group.

What is read is the file's metadata only: the attributes of the root and of every group and
dataset, and the value of datasets of at most ``SMALL_ARRAY`` elements (NeXus keeps its
descriptive fields, ``/entry/title``, ``/entry/start_time``, ``/entry/instrument/name``,
``/entry/sample/name`` …, as scalar datasets). A large dataset contributes its shape and type,
never its data. A dataset's ``units`` attribute (the NeXus convention) becomes the unit of
its value. Keys are HDF5 paths (``/entry/title``), attributes ``path@name``.
"""

from __future__ import annotations

from datauploader.extract.base import (SMALL_ARRAY, ExtractionError, Extractor, Metadata, Value,
                                       scalar)

#: keys at most per file (a file with many thousands of groups is summarised, not walked whole)
MAX_KEYS = 2000
_SKIP_ATTRS = {"units", "NX_class"}


class HDF5Extractor(Extractor):
    code = "hdf5"
    label = "HDF5 / NeXus"
    patterns = ("*.h5", "*.hdf5", "*.hdf", "*.nxs", "*.nx5", "*.nx")

    def extract(self, path: str) -> Metadata:
        try:
            import h5py
        except ImportError:  # pragma: no cover - a dependency of the product
            raise ExtractionError("Reading HDF5 files needs the h5py package; install it.") from None
        out: Metadata = {}
        try:
            with h5py.File(path, "r") as f:
                _attributes(out, "", f.attrs)
                def visit(name, obj):
                    if len(out) >= MAX_KEYS:
                        return True  # stops the walk
                    key = "/" + name
                    if isinstance(obj, h5py.Dataset):
                        _dataset(out, key, obj)
                    else:
                        cls = obj.attrs.get("NX_class")
                        if cls is not None:
                            out[key + "@NX_class"] = Value(scalar(cls) or "")
                    _attributes(out, key, obj.attrs)
                    return None
                f.visititems(visit)
        except OSError as e:
            raise ExtractionError(f"{path} cannot be read as an HDF5 file ({e}).") from None
        return out


def _attributes(out: Metadata, key: str, attrs) -> None:
    for name in attrs:
        if name in _SKIP_ATTRS:
            continue
        try:
            value = scalar(attrs[name])
        except (OSError, TypeError, ValueError):
            continue  # an attribute of a type h5py cannot read
        if value is not None:
            out[f"{key or ''}@{name}" if key else f"@{name}"] = Value(value)


def _dataset(out: Metadata, key: str, ds) -> None:
    unit = ds.attrs.get("units")
    unit = scalar(unit) if unit is not None else ""
    if ds.size is not None and ds.size <= SMALL_ARRAY and ds.dtype.kind in "biufSUOT":
        try:
            data = ds[()]
        except (OSError, TypeError, ValueError):
            data = None
        value = scalar(data)
        if value is None and getattr(data, "size", 0):  # a few elements: list them
            items = [scalar(v) for v in data.flat]
            if all(v is not None for v in items):
                value = ", ".join(Value(v).text() for v in items)
        if value is not None:
            out[key] = Value(value, str(unit or ""))
            return
    out[key + "@shape"] = Value("x".join(str(n) for n in ds.shape) or "scalar")
    out[key + "@dtype"] = Value(str(ds.dtype))
