"""relaxed_gc, the opt-in for bulk work at entry points: counted, and restored when left."""

from __future__ import annotations

import gc
import platform

from claire.gc_tuning import GEN0_THRESHOLD, limit_malloc_arenas, relaxed_gc


def test_gc_is_relaxed_while_used_and_restored_after() -> None:
    before = gc.get_threshold()
    with relaxed_gc():
        with relaxed_gc():
            assert gc.get_threshold()[0] >= GEN0_THRESHOLD
            assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= GEN0_THRESHOLD
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_malloc_arenas_are_capped_where_the_c_library_is_glibc() -> None:
    assert limit_malloc_arenas() is (platform.libc_ver()[0] == "glibc")
