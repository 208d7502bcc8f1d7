import pytest

from datauploader.core.keys import fill_prefix, join_safe
from datauploader.errors import ConfigError, UnsafeKeyError
from datauploader.names import RULES

S3, POSIX, WIN = RULES["s3"], RULES["posix"], RULES["windows"]


def test_prefix_is_filled_and_values_stay_one_component():
    assert fill_prefix("{proposal}/{dataset}", {"proposal": "MX 1234", "dataset": "run/7"},
                       S3) == "MX 1234/run_7"


def test_unknown_placeholder_is_a_config_error():
    with pytest.raises(ConfigError) as e:
        fill_prefix("{proposal}/{beamtime}", {"proposal": "p"}, S3)
    assert "{beamtime}" in str(e.value) and "key 'prefix'" in str(e.value)


@pytest.mark.parametrize("bad", ["..", "."])
def test_dot_names_cannot_escape_the_prefix(bad):
    with pytest.raises(UnsafeKeyError, match="outside the storage prefix"):
        fill_prefix("{proposal}/{dataset}", {"proposal": "p", "dataset": bad}, S3)


def test_empty_dataset_name_is_refused():
    with pytest.raises(UnsafeKeyError, match="dataset is empty"):
        fill_prefix("{proposal}/{dataset}", {"proposal": "p", "dataset": "  "}, S3)


def test_absolute_template_becomes_relative():
    assert fill_prefix("/{proposal}//{dataset}/", {"proposal": "p", "dataset": "d"}, S3) == "p/d"


@pytest.mark.parametrize("rel", ["../etc/passwd", "a/../../b", "a/./b"])
def test_relative_paths_cannot_escape(rel):
    with pytest.raises(UnsafeKeyError):
        join_safe("p/d", rel, S3)


def test_leading_slash_and_backslashes_are_structure_not_escape():
    assert join_safe("p/d", "/a//b\\c.h5", S3) == "p/d/a/b/c.h5"


def test_special_characters_are_kept_on_s3_and_posix():
    name = "scan #1 100% done?.h5"
    assert join_safe("p/d", name, S3) == f"p/d/{name}"
    assert join_safe("p/d", name, POSIX) == f"p/d/{name}"


def test_windows_rules_fix_invalid_names():
    assert join_safe("p", 'a:b?c*.txt', WIN) == "p/a_b_c_.txt"
    assert join_safe("p", "CON.txt", WIN) == "p/_CON.txt"
    assert join_safe("p", "trailing. ", WIN) == "p/trailing_"


def test_unicode_is_nfc():
    nfd = "Cafe\u0301.txt"
    assert join_safe("p", nfd, S3) == "p/Caf\u00e9.txt"


def test_control_characters_are_replaced_on_s3():
    assert join_safe("p", "a\x01b", S3) == "p/a_b"


def test_too_long_names_are_refused():
    with pytest.raises(UnsafeKeyError, match="too long"):
        join_safe("p", "x" * 300, POSIX)
    with pytest.raises(UnsafeKeyError, match="longer than"):
        join_safe("p", "/".join(["y" * 200] * 6), S3)
