"""Temporary names: where a backend writes a file before it moves it into place.

A temporary name is hidden (leading dot), sits beside the final name, and carries our job and
task, so that only the attempt that wrote it ever removes it, and listings skip it."""

from __future__ import annotations

from datauploader.storage.base import TransferItem

TEMP_MARK = ".du-"
TEMP_SUFFIX = ".part"


def temp_name(item: TransferItem) -> str:
    """The temporary key of ``item`` (same folder as ``item.key``)."""
    head, _, name = item.key.rpartition("/")
    tmp = f".{name[:80]}{TEMP_MARK}{item.job_uuid[:12]}-{item.task_id}{TEMP_SUFFIX}"
    return f"{head}/{tmp}" if head else tmp


def is_temp(name: str) -> bool:
    """Whether the last component ``name`` is one of our temporary names."""
    return name.startswith(".") and TEMP_MARK in name and name.endswith(TEMP_SUFFIX)
