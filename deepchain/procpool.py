"""Process pools for the crypto hot paths, safe in threaded hosts.

``fork`` is fastest (children inherit the parent's comb tables), but forking a process that
runs other threads can copy a lock in its held state and deadlock the child. So fork only
from a single-threaded process; otherwise use ``forkserver`` (children start from a clean,
single-threaded server).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from multiprocessing.context import BaseContext


def pool_context() -> BaseContext | None:
    """The multiprocessing context for a ProcessPoolExecutor started right now."""
    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return mp.get_context("fork")
    if "forkserver" in methods:
        return mp.get_context("forkserver")
    return None
