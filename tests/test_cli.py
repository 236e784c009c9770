"""The CLI through its main() and once through a real subprocess: exit codes, render, doctor."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from dunning.batch import RunSummary
from dunning.cli import main
from dunning.letter import Dunning

from .helpers import (
    BAD_FILES,
    ROOT,
    SAMPLE_FILES,
    SAMPLES_AS_OF,
    pdf_text,
    raw_rows,
    read_manifest_lines,
    squash,
)

AS_OF = SAMPLES_AS_OF.isoformat()


def _subset(tmp_path: Path, ids: list[str]) -> Path:
    """A small CSV export holding the sample rows with these account ids."""
    rows = [r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] in ids]
    path = tmp_path / "subset.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_run_exit_0_when_every_row_rendered_or_suppressed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = _subset(tmp_path, ["MT-000001", "MT-000012"])  # a reminder, a not-overdue row
    code = main(["run", str(export), "--as-of", AS_OF, "--out", str(tmp_path / "out")])
    assert code == 0
    outcomes = [e["outcome"] for e in read_manifest_lines(tmp_path / "out")]
    assert sorted(outcomes) == ["rendered", "suppressed"]
    printed = capsys.readouterr().out
    assert "2 rows = 1 rendered + 1 suppressed + 0 rejected + 0 failed" in printed


def test_run_exit_1_when_rows_rejected(tmp_path: Path) -> None:
    code = main(["-q", "run", str(BAD_FILES[1]), "--as-of", AS_OF, "--out", str(tmp_path)])
    assert code == 1
    assert any(e["outcome"] == "rejected" for e in read_manifest_lines(tmp_path))


def test_run_exit_2_with_one_line_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(tmp_path / "missing.csv"), "--as-of", AS_OF])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "missing.csv" in err
    assert err.startswith("dunning: error:")


def test_bad_config_is_exit_2_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    shutil.copytree(ROOT / "config", home / "config")
    shutil.copytree(ROOT / "templates", home / "templates")
    shutil.copytree(ROOT / "locales", home / "locales")
    policy = home / "config" / "policy.yaml"
    policy.write_text(policy.read_text("utf-8").replace("min_notice_interval_days",
                                                        "min_notice_intervall_days"), "utf-8")
    code = main(["--home", str(home), "run", str(SAMPLE_FILES[0]), "--as-of", AS_OF])
    assert code == 2
    err = capsys.readouterr().err
    assert "policy.yaml" in err
    assert "did you mean 'min_notice_interval_days'" in err


def test_bad_as_of_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(SAMPLE_FILES[0]), "--as-of", "20-11-2026"]) == 2
    assert "ISO date" in capsys.readouterr().err


def test_as_of_defaults_to_today_in_shanghai(dunning: Dunning) -> None:
    assert dunning.settings.today() == datetime.now(ZoneInfo("Asia/Shanghai")).date()


def _ledger(folder: Path, name: str = "ledger") -> str:
    """A ledger of the test's own (each letter made is recorded, and a second letter to the
    same account the same day would be suppressed)."""
    return f"sqlite:///{folder / name}.sqlite"


def test_render_gives_the_same_bytes_as_the_batch(
    tmp_path: Path, sample_run: tuple[RunSummary, Path]
) -> None:
    _, out = sample_run
    [entry] = [e for e in read_manifest_lines(out) if e["account_id"] == "MT-000004"]
    target = tmp_path / "letter.pdf"
    code = main(["render", "--input", str(SAMPLE_FILES[0]), "--id", "MT-000004",
                 "--as-of", AS_OF, "-o", str(target), "--ledger", _ledger(tmp_path)])
    assert code == 0
    assert hashlib.sha256(target.read_bytes()).hexdigest() == entry["sha256"]


def test_render_a_single_record_file_and_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_run: tuple[RunSummary, Path]
) -> None:
    _, out = sample_run
    row = next(r for r in raw_rows(SAMPLE_FILES[1]) if r["account_id"] == "JQ-000024")
    single = tmp_path / "one.yaml"
    single.write_text(yaml.safe_dump(row, allow_unicode=True), "utf-8")
    [entry] = [e for e in read_manifest_lines(out) if e["account_id"] == "JQ-000024"]
    batch_text = squash(pdf_text(out / str(entry["path"])))

    assert main(["render", "--input", str(single), "--as-of", AS_OF, "-o",
                 str(tmp_path / "a.pdf"), "--ledger", _ledger(tmp_path, "a")]) == 0
    assert squash(pdf_text(tmp_path / "a.pdf")) == batch_text

    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(
        json.dumps(row, ensure_ascii=False).encode("utf-8"))))
    assert main(["render", "--input", "-", "--as-of", AS_OF, "-o", str(tmp_path / "b.pdf"),
                 "--ledger", _ledger(tmp_path, "b")]) == 0
    assert (tmp_path / "b.pdf").read_bytes() == (tmp_path / "a.pdf").read_bytes()


def test_render_suppressed_or_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x.pdf"
    code = main(["render", "--input", str(SAMPLE_FILES[0]), "--id", "MT-000013",
                 "--as-of", AS_OF, "-o", str(target), "--json", "--ledger", _ledger(tmp_path)])
    assert code == 0  # suppressed is an outcome, not a problem (exitcodes.outcome_code)
    assert not target.exists()
    result = json.loads(capsys.readouterr().out)
    assert result["outcome"] == "suppressed"
    assert result["reason"].startswith("disputed")
    code = main(["render", "--input", str(SAMPLE_FILES[0]), "--id", "NOPE-1",
                 "--as-of", AS_OF, "-o", str(target)])
    assert code == 2
    assert "NOPE-1" in capsys.readouterr().err


def test_doctor_reports_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in ("pango", "harfbuzz-subset", "font zh_CN", "catalog zh_CN", "config"):
        assert f"[ok ] {name}" in out


def test_console_script_in_a_subprocess(tmp_path: Path) -> None:
    export = _subset(tmp_path, ["JQ-000001"])
    exe = Path(sys.executable).with_name("dunning")
    proc = subprocess.run(
        [str(exe), "run", str(export), "--as-of", AS_OF, "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    [entry] = read_manifest_lines(tmp_path / "out")
    assert entry["outcome"] == "rendered"
    assert (tmp_path / "out" / str(entry["path"])).is_file()
    proc = subprocess.run([str(exe), "run", "nope.csv"], capture_output=True, text=True,
                          cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("dunning: error:")
