"""Imported by the server that local clusters fork their workers from (:mod:`.worker_fork`), never elsewhere.

It imports what a worker needs before its first task (distributed's worker and nanny,
numpy, zarr, fsspec, aiex's chunker and index writer) and indexes a two-line Python
file, so the grammar, its queries and the term tables are loaded once, in the server,
and every forked worker starts with them. A failure here costs only that head start:
the worker imports what is missing when its first task needs it.
"""

from __future__ import annotations


def _warm_up() -> None:
    import distributed.nanny  # noqa: F401 - the worker process runs the nanny's entry point
    import distributed.worker  # noqa: F401
    import fsspec.implementations.local  # noqa: F401
    import zarr  # noqa: F401

    from . import worker_setup  # noqa: F401 - every worker's preload
    from ..core.indexing import index_batch
    from .index import parts  # noqa: F401 - the task that writes a segment

    index_batch([("warm_up.py", b"def f(x):\n    return x\n")])


try:
    _warm_up()
except Exception:  # noqa: BLE001, S110 - see the docstring: the worker imports it later
    pass
