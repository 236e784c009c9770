"""dunning: overdue-loan records in, formal localized overdue-notice letters (PDF) out.

The few things a caller needs are re-exported here (docs/api.md); the pipeline is described
in docs/development.md ("A letter's path"). Only the error types are imported with the
package: everything else is imported when first asked for
(``dunning.run_batch``, ``dunning.Dunning`` …), so ``import dunning`` and pure modules such as
``dunning.words`` load none of WeasyPrint, pikepdf, Jinja2, SQLAlchemy or Dask
(tests/test_architecture.py checks it in a fresh interpreter).
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

from .errors import ClusterError as ClusterError
from .errors import ConfigError as ConfigError
from .errors import DunningError as DunningError
from .errors import InputError as InputError
from .errors import LetterTimeoutError as LetterTimeoutError
from .errors import OutputError as OutputError
from .errors import PolicyError as PolicyError
from .errors import RecordError as RecordError
from .errors import RenderError as RenderError
from .errors import TemplateError as TemplateError

if TYPE_CHECKING:
    from .api import load_records as load_records
    from .api import render_letter as render_letter
    from .api import render_one as render_one
    from .batch import RunSummary as RunSummary
    from .batch import run_batch as run_batch
    from .letter import Dunning as Dunning
    from .printfile import PrintResult as PrintResult
    from .printfile import make_print_files as make_print_files
    from .records import Record as Record
    from .records import Rejection as Rejection
    from .settings import Settings as Settings

#: Where each lazily imported name lives.
_LAZY = {
    "load_records": ".api", "render_letter": ".api", "render_one": ".api",
    "RunSummary": ".batch", "run_batch": ".batch", "Dunning": ".letter",
    "PrintResult": ".printfile", "make_print_files": ".printfile",
    "Record": ".records", "Rejection": ".records", "Settings": ".settings",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    if name == "__version__":
        return metadata.version("dunning")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ClusterError", "ConfigError", "Dunning", "DunningError", "InputError",
    "LetterTimeoutError", "OutputError", "PolicyError", "PrintResult", "Record", "RecordError",
    "Rejection", "RenderError", "RunSummary", "Settings", "TemplateError", "load_records",
    "make_print_files", "render_letter", "render_one", "run_batch",
]
