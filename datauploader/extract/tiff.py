"""TIFF images (tifffile): the tags of the first page, and how many pages there are.

Only the image file directories are read, never pixel data. Tags that hold offsets or
tables (strip offsets, colour maps …) are left out; the resolution is given with its unit.
"""

from __future__ import annotations

from datauploader.extract.base import ExtractionError, Extractor, Metadata, Value, scalar

#: tags that describe the layout of the bytes, not the image
_LAYOUT = {"StripOffsets", "StripByteCounts", "TileOffsets", "TileByteCounts", "ColorMap",
           "JPEGTables", "FreeOffsets", "FreeByteCounts", "GrayResponseCurve",
           "TransferFunction"}
_RESOLUTION_UNIT = {1: "", 2: "1/in", 3: "1/cm"}


class TIFFExtractor(Extractor):
    code = "tiff"
    label = "TIFF tags"
    patterns = ("*.tif", "*.tiff")

    def extract(self, path: str) -> Metadata:
        try:
            import tifffile
        except ImportError:  # pragma: no cover - a dependency of the product
            raise ExtractionError("Reading TIFF files needs the tifffile package; "
                                  "install it.") from None
        out: Metadata = {}
        try:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages.first
                unit_tag = page.tags.get("ResolutionUnit")
                res_unit = _RESOLUTION_UNIT.get(int(unit_tag.value), "") if unit_tag else ""
                for tag in page.tags.values():
                    if tag.name in _LAYOUT or tag.name == "ResolutionUnit":
                        continue
                    value = tag.value
                    if isinstance(value, tuple) and len(value) == 2 and tag.name.endswith(
                            "Resolution") and value[1]:
                        out[tag.name] = Value(value[0] / value[1], res_unit)
                        continue
                    plain = scalar(getattr(value, "value", value))  # enums have a .value
                    if plain is not None:
                        out[tag.name] = Value(plain)
                out["pages"] = Value(len(tif.pages))
        except (tifffile.TiffFileError, OSError, ValueError) as e:
            raise ExtractionError(f"{path} cannot be read as a TIFF image ({e}).") from None
        return out
