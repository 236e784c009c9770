"""The errors dunning raises, one root and a subclass per pipeline stage.

::

    DunningError                 root: catch this to catch everything dunning raises
    ├── ConfigError              settings, brands or policy file unreadable or invalid
    │   └── PolicyError          the policy file specifically
    ├── InputError               an input file cannot be read at all (missing, bad header)
    ├── RecordError              one record is invalid; carries every FieldProblem found
    ├── TemplateError            a template failed to compile or render (file, line)
    ├── RenderError              WeasyPrint or the fonts could not make the PDF
    ├── OutputError              the output folder or a file in it cannot be written
    └── ClusterError             the Dask cluster cannot be reached, or its workers cannot
                                 make the same letters (other code, templates or fonts)

Errors carry their context as attributes (``source``, ``line``, ``field``, ``account_id``)
so the CLI, the manifest and the preview can show them without parsing messages. No message
ever contains a borrower's name, ID number, phone or address: only account ids and field names.
"""

from __future__ import annotations

from dataclasses import dataclass


class DunningError(Exception):
    """Root of every error dunning raises on purpose."""


class ConfigError(DunningError):
    """A configuration file (settings, brands, policy) is missing or invalid.

    ``path`` names the file, ``key`` the dotted key path where the problem is, if known.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.message = message
        self.path = path
        self.key = key
        where = ": ".join(p for p in (path, key) if p)
        super().__init__(f"{where}: {message}" if where else message)


class PolicyError(ConfigError):
    """The policy file is invalid (stages, intervals, caps, options)."""


class InputError(DunningError):
    """An input file cannot be read at all: missing, unreadable, unknown format, bad header."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if path and line else (path or "")
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


class TemplateError(DunningError):
    """A template failed to compile or render; ``template`` and ``line`` say where."""

    def __init__(
        self,
        message: str,
        *,
        template: str | None = None,
        line: int | None = None,
        account_id: str | None = None,
    ) -> None:
        self.template = template
        self.line = line
        self.account_id = account_id
        where = f"{template}:{line}" if template and line else (template or "")
        super().__init__(f"{where}: {message}" if where else message)


class RenderError(DunningError):
    """The PDF could not be made: WeasyPrint failed, or a character has no font."""

    def __init__(self, message: str, *, account_id: str | None = None) -> None:
        self.account_id = account_id
        super().__init__(message)


class OutputError(DunningError):
    """The output folder or a file in it cannot be written."""


class ClusterError(DunningError):
    """The Dask cluster of ``dunning run --cluster`` cannot run the batch: the scheduler is
    unreachable, it has no workers, or a worker runs other code, templates or libraries than
    the driver (``worker`` names it) and so would not make the same letters."""

    def __init__(self, message: str, *, worker: str | None = None) -> None:
        self.worker = worker
        super().__init__(message)
