"""Giving freed memory back to the operating system."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)

_libc: ctypes.CDLL | None = None


def trim_heap() -> None:
    """Collect garbage and return the C heap's free pages to the system (glibc only).

    A full index sync builds and drops hundreds of megabytes of short-lived objects
    (100,000 texts, their tokens, database rows); glibc keeps those pages mapped, and
    the worker's resident memory stays at its peak. Measured at 100,000 entries: 965 MB
    after the sync, 786 MB after the trim.
    """
    global _libc
    gc.collect()
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        log.debug("malloc_trim unavailable")
