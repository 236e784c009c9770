"""The ledger on real SQLite and real PostgreSQL: letters, versions, runs, history."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dunning.errors import OutputError
from dunning.hashing import record_hash, tree_hash
from dunning.ledger import Ledger, redact
from dunning.letter import Dunning
from dunning.records import Record, read_records

from .helpers import ROOT, SAMPLE_FILES

AS_OF = date(2026, 11, 20)
OUT = Path("/srv/letters/2026-11-20")


def _letter(ledger: Ledger, **changes: Any) -> int:
    values: dict[str, Any] = {
        "run_id": "run-1", "account_id": "MT-000001", "as_of": AS_OF, "brand": "mingtai",
        "stage": "formal", "locale": "zh_CN", "template_version": "t1", "record_hash": "r1",
        "out_dir": OUT, "path": "mingtai/formal/MT-000001.pdf", "sha256": "a" * 64, "pages": 2,
        "total": Decimal("2118.41"), "currency": "CNY",
    }
    return ledger.record_letter(**{**values, **changes})


def test_letters_versions_and_history(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    first = _letter(ledger)
    current = ledger.current("MT-000001", AS_OF, OUT)
    assert current is not None
    assert (current.id, current.status, current.total, current.pages) == (first, "current",
                                                                          "2118.41", 2)
    assert ledger.current("MT-000001", AS_OF, Path("/elsewhere")) is None
    assert ledger.current("MT-000002", AS_OF, OUT) is None

    second = _letter(ledger, record_hash="r2", path="mingtai/formal/MT-000001~v2.pdf",
                     supersedes=first)
    current = ledger.current("MT-000001", AS_OF, OUT)
    assert current is not None
    assert current.id == second
    history = ledger.history("MT-000001")
    assert [(h.id, h.status, h.superseded_by) for h in history] == [
        (first, "superseded", second), (second, "current", None)]
    ledger.close()


def test_last_sent_before_reads_earlier_letters_only(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    assert ledger.last_sent_before("MT-000001", AS_OF) is None
    _letter(ledger, as_of=date(2026, 11, 10))
    _letter(ledger, as_of=date(2026, 11, 14))
    _letter(ledger, as_of=AS_OF)
    # The letter of AS_OF in OUT is a rerun's own (not "sent before"); any other counts,
    # whatever made it: the same day's letter from another folder or channel too.
    assert ledger.last_sent_before("MT-000001", AS_OF, besides=OUT) == date(2026, 11, 14)
    assert ledger.last_sent_before("MT-000001", AS_OF, besides="/elsewhere") == AS_OF
    assert ledger.last_sent_before("MT-000001", AS_OF) == AS_OF
    assert ledger.last_sent_before("MT-000001", date(2026, 11, 12)) == date(2026, 11, 10)
    assert ledger.last_sent_before("JQ-000001", AS_OF) is None
    ledger.close()


def test_runs_are_recorded(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    ledger.start_run(run_id="run-a", as_of=AS_OF, out_dir=OUT, inputs=["a.csv"])
    [run] = ledger.runs()
    assert (run["run_id"], run["status"], run["finished_at"]) == ("run-a", "running", None)
    ledger.finish_run("run-a", {"rows": 3})
    [run] = ledger.runs()
    assert run["status"] == "finished"
    assert '"rows": 3' in run["summary"]
    ledger.close()


def test_record_hash_follows_the_data_not_the_location() -> None:
    dunning = Dunning.load()
    rows = [r for r in read_records([SAMPLE_FILES[0]], dunning.record_rules())
            if isinstance(r, Record)]
    a, b = rows[0], rows[1]
    import dataclasses

    moved = dataclasses.replace(a, source="other.csv", line=999)
    changed = dataclasses.replace(a, paid_since_due=a.paid_since_due + 1)
    assert record_hash(a) == record_hash(moved)
    assert record_hash(a) != record_hash(changed)
    assert record_hash(a) != record_hash(b)


def test_tree_hash_changes_with_any_template_byte(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", copy)
    before = tree_hash([copy])
    assert tree_hash([copy]) == before
    partial = copy / "letter" / "partials" / "rights.html"
    partial.write_text(partial.read_text("utf-8") + " ", "utf-8")
    assert tree_hash([copy]) != before


def test_tree_hash_ignores_the_stamps_that_extracting_catalogs_rewrites(tmp_path: Path) -> None:
    """Re-extracting the catalogs (new dates, another Babel) changes no letter, so it must
    not change the template version; a changed translation must."""
    import shutil

    copy = tmp_path / "locales"
    shutil.copytree(ROOT / "locales", copy)
    before = tree_hash([copy])
    catalog = copy / "zh_CN" / "LC_MESSAGES" / "messages.po"
    text = catalog.read_text("utf-8")
    stamped = re.sub(r'"POT-Creation-Date: [^"]*"',
                     r'"POT-Creation-Date: 2031-01-02 03:04+0000\\n"', text)
    stamped = re.sub(r'"Generated-By: Babel [^"]*"', r'"Generated-By: Babel 9.9.9\\n"', stamped)
    assert stamped != text
    catalog.write_text(stamped, "utf-8")
    pot = copy / "messages.pot"
    pot.write_text(pot.read_text("utf-8").replace("POT-Creation-Date: ", "POT-Creation-Date: 1"),
                   "utf-8")
    assert tree_hash([copy]) == before
    changed = stamped.replace('msgstr "%(amount)s，发放日期', 'msgstr "%(amount)s，发放于')
    catalog.write_text(changed, "utf-8")
    assert catalog.read_text("utf-8") != stamped
    assert tree_hash([copy]) != before


def test_unreachable_ledger_is_an_output_error_without_password() -> None:
    with pytest.raises(OutputError, match=r"cannot open the ledger") as info:
        Ledger("postgresql://u:topsecret@127.0.0.1:1/nowhere")
    assert "topsecret" not in str(info.value)


def test_redact() -> None:
    assert redact("sqlite:///x.sqlite") == "sqlite:///x.sqlite"
    assert redact("postgresql://a:b@h/d") == "postgresql://a:***@h/d"
