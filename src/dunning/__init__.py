"""dunning: overdue-loan records in, formal localized overdue-notice letters (PDF) out.

The few things a caller needs are re-exported here; see the README for the pipeline."""

from .api import load_records as load_records
from .api import render_letter as render_letter
from .api import render_one as render_one
from .batch import RunSummary as RunSummary
from .batch import run_batch as run_batch
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
from .printfile import PrintResult as PrintResult
from .printfile import make_print_files as make_print_files
from .records import Record as Record
from .records import Rejection as Rejection
from .settings import Settings as Settings

__all__ = [
    "ClusterError", "ConfigError", "Dunning", "DunningError", "InputError", "OutputError",
    "PolicyError", "PrintResult", "Record", "RecordError", "Rejection", "RenderError",
    "RunSummary", "Settings", "TemplateError", "load_records", "make_print_files",
    "render_letter", "render_one", "run_batch",
]
__version__ = "0.1.0"
