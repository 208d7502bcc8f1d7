"""Metadata parsers on small instrument files the tests write (HDF5/NeXus, TIFF, CSV, TSV,
JSON and YAML side-cars), a plug-in found through its entry point, header-only reads, and the
mapping file."""

from __future__ import annotations

import json
import sys
import textwrap

import h5py
import numpy as np
import pytest
import tifffile

from datauploader.errors import ConfigError, InputError
from datauploader.extract import registry
from datauploader.extract.base import Value
from datauploader.extract.mapping import Mapping
from datauploader.extract.run import extract


def write_nexus(path, big: int = 0):
    with h5py.File(path, "w") as f:
        f.attrs["creator"] = "beamline-7 DAQ"
        f.attrs["NeXus_version"] = "4.4.3"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["title"] = "Cu foil scan"
        entry["start_time"] = "2026-03-02T10:00:00+01:00"
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        inst["name"] = np.bytes_(b"P07")
        sample = entry.create_group("sample")
        sample["temperature"] = 293.5
        sample["temperature"].attrs["units"] = "K"
        sample["position"] = np.array([1.0, 2.5, -3.0])
        data = entry.create_group("data")
        data.create_dataset("frames", data=np.zeros((4, 8, 8), dtype="u2"))
        if big:
            data.create_dataset("huge", data=np.random.default_rng(1).integers(
                0, 255, size=big, dtype="u1"))


def read_bytes() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar")).split()[1])


def test_hdf5_nexus_fields_attributes_and_units(tmp_path):
    path = tmp_path / "scan.nxs"
    write_nexus(path)
    md = registry.chosen(["hdf5"])[0].extract(str(path))
    assert md["@creator"] == Value("beamline-7 DAQ")
    assert md["/entry/title"] == Value("Cu foil scan")
    assert md["/entry/instrument/name"] == Value("P07")
    assert md["/entry/sample/temperature"] == Value(293.5, "K")
    assert md["/entry/sample/position"] == Value("1.0, 2.5, -3.0")
    assert md["/entry@NX_class"] == Value("NXentry")
    # a data array: its shape and type, never its values
    assert md["/entry/data/frames@shape"] == Value("4x8x8")
    assert md["/entry/data/frames@dtype"] == Value("uint16")
    assert "/entry/data/frames" not in md


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/io")
def test_parsers_read_headers_only(tmp_path):
    h5 = tmp_path / "big.h5"
    write_nexus(h5, big=48 << 20)
    csv_path = tmp_path / "big.csv"
    with open(csv_path, "w") as f:
        f.write("# operator: ada\ntime (s),signal [mV]\n")
        f.write("0.1,2.5\n" * 1_500_000)  # 12 MB
    for parser, path in ((registry.chosen(["hdf5"])[0], h5), (registry.chosen(["csv"])[0],
                                                               csv_path)):
        before = read_bytes()
        md = parser.extract(str(path))
        assert md
        assert read_bytes() - before < 1 << 20, f"{parser.code} read more than a header"


def test_tiff_tags_of_the_first_page(tmp_path):
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, np.zeros((2, 16, 32), dtype="u2"), description="detector A",
                     software="acq 2.1", resolution=(100, 100), resolutionunit="CENTIMETER",
                     metadata=None)
    md = registry.chosen(["tiff"])[0].extract(str(path))
    assert md["ImageWidth"] == Value(32)
    assert md["ImageLength"] == Value(16)
    assert md["ImageDescription"] == Value("detector A")
    assert md["Software"] == Value("acq 2.1")
    assert md["XResolution"] == Value(100.0, "1/cm")
    assert md["pages"] == Value(2)
    assert "StripOffsets" not in md


def test_csv_and_tsv_headers(tmp_path):
    (tmp_path / "run.csv").write_text("# operator: ada\n# sample = Cu-7\n\ntime (s),V [mV],n\n"
                                      "1,2,3\n")
    md = registry.chosen(["csv"])[0].extract(str(tmp_path / "run.csv"))
    assert md["operator"] == Value("ada")
    assert md["sample"] == Value("Cu-7")
    assert md["columns"] == Value("time (s), V [mV], n")
    assert md["column/time"] == Value(1, "s")
    assert md["column/V"] == Value(2, "mV")
    (tmp_path / "run.tsv").write_text("% gain: 4\nx\ty (um)\n1\t2\n")
    md = registry.chosen(["tsv"])[0].extract(str(tmp_path / "run.tsv"))
    assert md["gain"] == Value(4)
    assert md["column/y"] == Value(2, "um")


def test_json_and_yaml_sidecars(tmp_path):
    (tmp_path / "scan.json").write_text(json.dumps({
        "sample": {"name": "Cu", "temperature": {"value": 4.2, "unit": "K"}},
        "tags": ["a", "b"], "exposure": 0.5, "ok": True}))
    md = registry.chosen(["json"])[0].extract(str(tmp_path / "scan.json"))
    assert md == {"sample.name": Value("Cu"), "sample.temperature": Value(4.2, "K"),
                  "tags": Value("a, b"), "exposure": Value(0.5), "ok": Value(True)}
    (tmp_path / "scan.yaml").write_text("operator: ada\nbeam:\n  energy: {value: 12, unit: keV}\n")
    md = registry.chosen(["yaml"])[0].extract(str(tmp_path / "scan.yaml"))
    assert md == {"operator": Value("ada"), "beam.energy": Value(12, "keV")}


def test_a_file_a_parser_cannot_read_is_a_problem_not_a_failure(tmp_path):
    (tmp_path / "bad.h5").write_bytes(b"not hdf5 at all")
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "good.csv").write_text("# k: v\na,b\n")
    files = [(str(tmp_path / n), n) for n in ("bad.h5", "bad.json", "good.csv")]
    result = extract(files, registry.chosen(["hdf5", "json", "csv"]))
    assert result.metadata == {"k": Value("v"), "columns": Value("a, b")}
    assert result.files_read == 1
    assert len(result.problems) == 2
    assert "bad.h5 cannot be read as an HDF5 file" in result.problems[0]
    assert "bad.json is not valid JSON" in result.problems[1]


def test_dataset_metadata_is_the_first_files_and_varying_keys_are_named(tmp_path):
    for i, temp in enumerate((4.2, 4.2, 5.0)):
        (tmp_path / f"s{i}.json").write_text(json.dumps({"t": temp, "op": "ada"}))
    result = extract([(str(tmp_path / f"s{i}.json"), f"s{i}.json") for i in range(3)],
                     registry.chosen(["json"]))
    assert result.metadata == {"t": Value(4.2), "op": Value("ada")}
    assert result.varying == ["t"]
    assert result.per_file["s2.json"]["t"] == Value(5.0)


def test_unknown_parser_is_refused_with_the_known_ones():
    with pytest.raises(InputError, match="There is no metadata parser 'xrd'; the parsers are: "
                                         "csv, hdf5, json, tiff, tsv, yaml"):
        registry.chosen(["xrd"])


def test_plugin_through_its_entry_point(tmp_path, monkeypatch):
    """A parser installed as a package is found through the entry point group."""
    site = tmp_path / "site"
    (site / "labparsers").mkdir(parents=True)
    (site / "labparsers" / "__init__.py").write_text(textwrap.dedent('''
        from datauploader.extract.base import Extractor, Value

        class XRD(Extractor):
            code = "xrd"
            label = "XRD scans"
            patterns = ("*.xrdml",)

            def extract(self, path):
                with open(path) as f:
                    return {"anode": Value(f.readline().strip())}
    '''))
    dist = site / "labparsers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: labparsers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[datauploader.extractors]\nxrd = labparsers:XRD\n")
    monkeypatch.syspath_prepend(str(site))
    (tmp_path / "a.xrdml").write_text("Cu\n")
    [parser] = registry.chosen(["xrd"])
    assert parser.accepts("A.XRDML")
    assert extract([(str(tmp_path / "a.xrdml"), "a.xrdml")], [parser]).metadata == {
        "anode": Value("Cu")}


def test_mapping_per_catalogue_globs_drops_and_unmapped_keys(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text(textwrap.dedent("""
        /entry/instrument/name:
          openbis: INSTRUMENT
          icat: instrument_name
          "*": instrument
        /entry/sample/temperature: SAMPLE_TEMPERATURE
        "/entry/*/end_time": END_TIME
        Software: null
    """))
    m = Mapping.load(str(path))
    md = {"/entry/instrument/name": Value("P07"),
          "/entry/sample/temperature": Value(4.2, "K"),
          "/entry/scan/end_time": Value("2026-03-02"), "Software": Value("acq"),
          "other": Value(1)}
    ob = m.apply(md, "openbis", keep_unmapped=False)
    assert ob.values == {"INSTRUMENT": "P07", "SAMPLE_TEMPERATURE": "4.2", "END_TIME": "2026-03-02"}
    assert ob.units == {"SAMPLE_TEMPERATURE": "K"}
    assert ob.left_out == ["other"]
    sc = m.apply(md, "scicat", keep_unmapped=True)
    assert sc.values["instrument"] == "P07" and sc.values["other"] == "1"
    assert "Software" not in sc.values and sc.left_out == []
    assert m.apply(md, "icat", keep_unmapped=False).values["instrument_name"] == "P07"


def test_a_bad_mapping_file_is_a_configuration_error(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("a: [1, 2]\n")
    with pytest.raises(ConfigError, match="the mapping of 'a' must be a name"):
        Mapping.load(str(path))
    path.write_text("a: {b\n")
    with pytest.raises(ConfigError, match="not valid"):
        Mapping.load(str(path))
