"""etiket's dataset fields and limits (checked before anything is sent), the dataset uuid
derived from the job's key, and the dataset as etiket answers it read into our record."""

from __future__ import annotations

import pytest

from datauploader.catalogue import etiket_payloads as P
from datauploader.catalogue.base import DatasetSpec
from datauploader.errors import InputError


def spec(**kw) -> DatasetSpec:
    return DatasetSpec(**{"name": "run 42", "dataset_key": "du-abc", **kw})


def test_own_fields_come_from_the_metadata_and_the_rest_are_attributes():
    own, attributes = P.fields(spec(metadata={"alt_uid": "run-0042", "ranking": "3",
                                              "collection": "cooldown-7", "sample": "flake-A",
                                              "thumbnail": "/tmp/p.jpg"}))
    assert own == {"alt_uid": "run-0042", "ranking": 3, "collection": "cooldown-7"}
    assert attributes == {"sample": "flake-A"}
    body = P.dataset_body(spec(keywords=("spin-qubit",), metadata={"sample": "flake-A"}),
                          "u-1", "s-1", "alice", "2026-01-01T00:00:00+00:00")
    assert body == {"uuid": "u-1", "alt_uid": None, "collected": "2026-01-01T00:00:00+00:00",
                    "name": "run 42", "creator": "alice", "description": None, "notes": None,
                    "keywords": ["spin-qubit"], "ranking": 0, "scope_uuid": "s-1",
                    "attributes": {"sample": "flake-A"}}


@pytest.mark.parametrize("bad, words", [
    ({"metadata": {"fridge": "x" * 21}}, "attribute values (of 'fridge') of 2 to 20"),
    ({"metadata": {"f": "bluefors"}}, "attribute names of 2 to 20 characters; 'f' has 1"),
    ({"keywords": ("q",)}, "keywords of 2 to 20"),
    ({"metadata": {"ranking": "1.5"}}, "ranking is a whole number, not '1.5'"),
    ({"metadata": {"alt_uid": "r1"}}, "an alt_uid of 5 to 80"),
    ({"metadata": {"collection": "c"}}, "a collection name of 2 to 255"),
    ({"name": "n" * 101}, "a dataset name of 1 to 100"),
])
def test_what_etiket_would_refuse_is_said_with_the_rule(bad, words):
    with pytest.raises(InputError) as e:
        P.fields(spec(**bad))
    assert words in str(e.value)


def test_the_limits_are_inclusive():
    P.fields(spec(keywords=("ab", "x" * 20), metadata={"ab": "x" * 20, "alt_uid": "x" * 80}))


def test_the_dataset_uuid_is_the_keys_and_an_alt_uid_must_differ():
    assert P.dataset_uuid("du-abc") == P.dataset_uuid("du-abc") != P.dataset_uuid("du-abd")
    u = P.dataset_uuid("du-abc")
    with pytest.raises(InputError, match="other than the dataset's own uuid"):
        P.dataset_body(spec(metadata={"alt_uid": u}), u, "s", "alice", "t")


def test_a_dataset_read_back():
    f = {"name": "a.h5", "uuid": "f1", "size": 3, "md5_checksum": "m", "status": "secured"}
    ds = {"uuid": "d1", "name": "run 42", "alt_uid": "run-0042", "ranking": 2,
          "scope": {"uuid": "s1"}, "keywords": ["kw"], "description": "d",
          "attributes": {"sample": "flake-A", "datauploader": "complete"},
          "files": [{**f, "version_id": 1}, {**f, "version_id": 5, "size": 4},
                    {**f, "name": "b.h5", "version_id": 2, "status": "pending"},
                    {**f, "name": "__thumbnail_0", "version_id": 3}]}
    r = P.record(ds, "host:1", "datauploader", "du-abc")
    assert (r.id, r.investigation_id, r.complete, r.dataset_key) == ("d1", "s1", True, "du-abc")
    assert r.metadata == {"sample": "flake-A", "alt_uid": "run-0042", "ranking": "2"}
    (only,) = r.datafiles  # the newest secured version; no thumbnail, nothing pending
    assert (only.id, only.size, only.algorithm) == ("f1:5", 4, "md5")
    assert P.location_of(only.location) == ("d1", "f1", 5)
    assert P.location_of("s3://bucket/key") is None
    assert not P.record({**ds, "attributes": {}}, "h", "datauploader").complete
