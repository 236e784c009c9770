"""dunning: overdue-loan records in, formal localized overdue-notice letters (PDF) out.

The few things a caller needs are re-exported here; see the README for the pipeline. The batch
and the print files are imported when first asked for (``dunning.run_batch``): they bring
SQLAlchemy and pikepdf, which ``dunning render`` of one letter does not need (about 0.4 s of its
cold start)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .api import load_records as load_records
from .api import render_letter as render_letter
from .api import render_one as render_one
from .errors import ClusterError as ClusterError
from .errors import ConfigError as ConfigError
from .errors import DunningError as DunningError
from .errors import InputError as InputError
from .errors import OutputError as OutputError
from .errors import PolicyError as PolicyError
from .errors import RecordError as RecordError
from .errors import RenderError as RenderError
from .errors import TemplateError as TemplateError
from .letter import Dunning as Dunning
from .records import Record as Record
from .records import Rejection as Rejection
from .settings import Settings as Settings

if TYPE_CHECKING:
    from .batch import RunSummary as RunSummary
    from .batch import run_batch as run_batch
    from .printfile import PrintResult as PrintResult
    from .printfile import make_print_files as make_print_files

_LAZY = {"RunSummary": ".batch", "run_batch": ".batch", "PrintResult": ".printfile",
         "make_print_files": ".printfile"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ClusterError", "ConfigError", "Dunning", "DunningError", "InputError", "OutputError",
    "PolicyError", "PrintResult", "Record", "RecordError", "Rejection", "RenderError",
    "RunSummary", "Settings", "TemplateError", "load_records", "make_print_files",
    "render_letter", "render_one", "run_batch",
]
__version__ = "0.1.0"
