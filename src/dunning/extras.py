"""The optional parts of dunning, the extra that installs each, and the error that says so.

The core install renders letters and runs the batch on this machine. ``pip install
'dunning[cluster]'`` adds the Dask cluster and object-store output, ``[preview]`` the
authors' live preview server, ``[postgres]`` a PostgreSQL ledger; ``make run`` and ``make
test`` install them all. A command that needs a part that is not installed stops before it
starts, naming the extra (:func:`require`).
"""

from __future__ import annotations

import importlib.util

from .errors import ConfigError

#: The top-level modules each extra installs.
EXTRAS: dict[str, tuple[str, ...]] = {
    "cluster": ("dask", "distributed", "fsspec"),
    "preview": ("starlette", "uvicorn", "watchfiles"),
    "postgres": ("psycopg",),
    "service": ("starlette", "uvicorn", "prometheus_client"),
}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, what: str) -> None:
    """Raise ConfigError when ``what`` (e.g. "--cluster") needs ``extra`` and part of it is
    not installed."""
    absent = missing(extra)
    if absent:
        raise ConfigError(
            f"{what} needs the optional part '{extra}' of dunning, which is not installed "
            f"(missing: {', '.join(absent)}): pip install 'dunning[{extra}]', or `make setup` "
            "in a checkout")
