"""Exit codes of every dunning command, in one place (docs/operations.md has the same table,
and tests/test_operator.py runs each case).

==== ==========================================================================================
code meaning
==== ==========================================================================================
0    done: every row accounted for, nothing rejected or failed
1    done, but the data owner must act: some rows were rejected (bad data) or failed (a letter
     could not be made); ``rejects.csv`` and the summary say which and why
2    could not do the job: configuration, templates (pre-flight), input unreadable or empty,
     output not writable, another run holding the folder, a crash
130  interrupted (SIGINT, Ctrl-C): stopped at once; nothing half-written, rerun
143  stopped by SIGTERM: the letters in flight were finished, the manifest and summary
     written (marked ``interrupted``); rows not reached have no outcome yet: rerun to resume
==== ==========================================================================================

Takes a run's counts (or an exception that ended a command); gives the code. The CLI's
:func:`dunning.cli.main` is the only caller that exits with them.
"""

from __future__ import annotations

from collections.abc import Mapping

OK = 0
ROWS = 1
FATAL = 2
INTERRUPTED = 130
TERMINATED = 143

#: (code, meaning, what the scheduler should do): the table of docs/operations.md.
TABLE: tuple[tuple[int, str, str], ...] = (
    (OK, "every row accounted for (rendered or suppressed), nothing rejected or failed",
     "nothing"),
    (ROWS, "done, but some rows were rejected (bad data) or failed (a letter could not be made)",
     "send rejects.csv to the data owner; fix and rerun"),
    (FATAL, "the run could not do its job: configuration, templates (pre-flight), input "
     "unreadable or empty, output not writable, another run on the folder, a crash",
     "alert operations; the reason is on stderr; no letter was written by pre-flight"),
    (INTERRUPTED, "interrupted (SIGINT, Ctrl-C)", "rerun: it resumes"),
    (TERMINATED, "stopped by SIGTERM: letters in flight finished, manifest and summary "
     "written and marked interrupted", "rerun: it resumes the rows not reached"),
)


def run_code(counts: Mapping[str, int], interrupted: str | None = None) -> int:
    """The exit code of a run that ended normally or by a first SIGTERM.

    >>> run_code({"rendered": 3}), run_code({"rendered": 3, "failed": 1})
    (0, 1)
    >>> run_code({"rendered": 3}, interrupted="SIGTERM")
    143
    """
    if interrupted:
        return TERMINATED
    return ROWS if counts.get("rejected", 0) or counts.get("failed", 0) else OK


def outcome_code(outcome: str) -> int:
    """The exit code of one letter's outcome (``dunning render``).

    >>> [outcome_code(o) for o in ("rendered", "suppressed", "rejected", "failed")]
    [0, 0, 1, 1]
    """
    return ROWS if outcome in ("rejected", "failed") else OK
