"""Process pools for the crypto hot paths, safe in any host process.

Never ``fork``: a forked child inherits the parent's state, including locks held by other
threads and after-fork hooks of libraries it used (kombu's, for one, blocks a child forever
closing the parent's broker connection). ``forkserver`` children start from a clean server
process instead; the price is that each child rebuilds its comb tables (about 0.2 s).
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.context import BaseContext


def pool_context() -> BaseContext:
    """The multiprocessing context for a ProcessPoolExecutor: forkserver, else spawn."""
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")
