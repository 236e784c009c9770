"""The errors dunning raises, one root and a subclass per pipeline stage.

::

    DunningError                 root: catch this to catch everything dunning raises
    ├── ConfigError              a config file unreadable or invalid (path, key, line)
    │   └── PolicyError          the policy file specifically
    ├── InputError               an input file cannot be read at all (path, line)
    ├── RecordError              one record is invalid; carries every FieldProblem found
    ├── TemplateError            a template failed to compile or render (template, line, kind)
    ├── RenderError              the PDF could not be made (kind, file, line)
    │   └── LetterTimeoutError   one letter took longer than the per-letter time limit
    ├── OutputError              the output folder or a file in it cannot be written
    ├── PreflightError           pre-flight found what would fail every letter (findings)
    └── ClusterError             the Dask cluster cannot be reached, or its workers cannot
                                 make the same letters (other code, templates or fonts)

Errors carry their context as attributes (``path``, ``line``, ``key``, ``kind``,
``account_id``) so the CLI, the manifest and the preview can show them without parsing
messages. No message ever contains a borrower's name, ID number, phone or address: only
account ids and field names.

Every error survives a serialization round trip with its attributes (errors cross process
boundaries: worker processes, Dask workers): :meth:`DunningError.__reduce__` rebuilds the
instance without calling ``__init__`` again. The exception chain (``__cause__``) is not
carried across, so nothing here may depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


def _rebuild(cls: type[DunningError], args: tuple[Any, ...],
             state: dict[str, Any]) -> DunningError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class DunningError(Exception):
    """Root of every error dunning raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _where(path: str | None, line: int | None) -> str:
    return f"{path}:{line}" if path and line else (path or "")


def reason(exc: BaseException) -> str:
    """Why an operation failed, in a few words for a message that names the file itself: an
    OSError's ``strerror`` without the errno and file name its text repeats, else the
    exception's text.

    >>> reason(FileNotFoundError(2, "No such file or directory", "accounts.csv"))
    'No such file or directory'
    >>> reason(OSError("not a regular file"))
    'not a regular file'
    """
    strerror = exc.strerror if isinstance(exc, OSError) else None
    return strerror or str(exc)


class ConfigError(DunningError):
    """A configuration file (settings, brands, policy, wording) is missing or invalid.

    ``path`` names the file, ``key`` the dotted key path where the problem is, ``line`` the
    1-based line in the file, each when known. ``message`` is the problem without them.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.key = key
        self.line = line
        where = ": ".join(p for p in (_where(path, line), key) if p)
        super().__init__(f"{where}: {message}" if where else message)


class PolicyError(ConfigError):
    """The policy file is invalid (stages, intervals, caps, options)."""


class InputError(DunningError):
    """An input file cannot be read at all: missing, unreadable, unknown format, bad header."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = _where(path, line)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """What is wrong with one field of one record, and what would be accepted."""

    field: str | None
    problem: str
    accepted: str = ""

    def __str__(self) -> str:
        text = f"{self.field}: {self.problem}" if self.field else self.problem
        return f"{text} (expected {self.accepted})" if self.accepted else text


class RecordError(DunningError):
    """A record failed validation. ``problems`` lists every field problem found."""

    def __init__(
        self,
        problems: list[FieldProblem],
        *,
        source: str,
        line: int,
        account_id: str | None = None,
    ) -> None:
        self.problems = problems
        self.source = source
        self.line = line
        self.account_id = account_id
        super().__init__(f"{source}:{line}: " + "; ".join(str(p) for p in problems))

    @property
    def reason(self) -> str:
        """The problems without the location (the manifest has the location separately)."""
        return "; ".join(str(p) for p in self.problems)


#: What went wrong in a template: ``syntax`` (it does not compile), ``undefined`` (it uses a
#: name the letter's context does not have), ``template`` (anything else while rendering).
TemplateKind = Literal["syntax", "undefined", "template"]


class TemplateError(DunningError):
    """A template failed to compile or render; ``template`` and ``line`` say where, ``kind``
    what (:data:`TemplateKind`)."""

    def __init__(
        self,
        message: str,
        *,
        template: str | None = None,
        line: int | None = None,
        account_id: str | None = None,
        kind: TemplateKind = "template",
    ) -> None:
        self.message = message
        self.template = template
        self.line = line
        self.account_id = account_id
        self.kind = kind
        where = _where(template, line)
        super().__init__(f"{where}: {message}" if where else message)


#: Why a PDF could not be made:
#:
#: - ``glyph``: a character that no configured font covers (the letter would show boxes);
#: - ``overflow``: content does not fit where it must (the envelope window);
#: - ``stylesheet``: WeasyPrint reported a problem in a stylesheet (``file``/``line``);
#: - ``resource``: the letter asked for a file outside the templates' assets folder;
#: - ``weasyprint``: WeasyPrint itself failed;
#: - ``fonts``: fast font subsetting is not available (see ``allow_slow_subsetting``);
#: - ``encryption``: the letter could not be encrypted;
#: - ``signing``: the letter could not be signed (:mod:`dunning.sign`);
#: - ``timeout``: the letter took longer than the per-letter time limit;
#: - ``worker``: the worker process that renders letters could not start or kept dying.
RenderKind = Literal["glyph", "overflow", "stylesheet", "resource", "weasyprint", "fonts",
                     "encryption", "signing", "timeout", "worker"]


class RenderError(DunningError):
    """The PDF could not be made: ``kind`` says why (:data:`RenderKind`), ``file`` and
    ``line`` where, when a source file is to blame."""

    def __init__(self, message: str, *, kind: RenderKind = "weasyprint",
                 account_id: str | None = None, file: str | None = None,
                 line: int | None = None) -> None:
        self.message = message
        self.kind = kind
        self.account_id = account_id
        self.file = file
        self.line = line
        super().__init__(message)


class LetterTimeoutError(RenderError):
    """One letter took longer than the per-letter time limit."""

    def __init__(self, message: str, *, account_id: str | None = None) -> None:
        super().__init__(message, kind="timeout", account_id=account_id)


class OutputError(DunningError):
    """The output folder or a file in it cannot be written."""


class PreflightError(DunningError):
    """Before the first letter, the run found what would fail every letter (a template that
    does not compile, a stylesheet with errors, an incomplete catalog): ``findings`` lists
    each with its file and line (:mod:`dunning.preflight`)."""

    def __init__(self, message: str, *, findings: list[str] | None = None) -> None:
        self.findings = list(findings or [])
        super().__init__(message)


class ClusterError(DunningError):
    """The Dask cluster of ``dunning run --cluster`` cannot run the batch: the scheduler is
    unreachable, it has no workers, or a worker runs other code, templates or libraries than
    the driver (``worker`` names it) and so would not make the same letters."""

    def __init__(self, message: str, *, worker: str | None = None) -> None:
        self.worker = worker
        super().__init__(message)
