"""The optional parts: the core renders letters and runs the local batch without them, and a
command that needs a missing one says which extra to install.

Each case runs the real CLI in a fresh interpreter in which the extras' modules cannot be
imported (``sys.modules[name] = None`` makes ``import name`` raise ImportError, as on an
install without the extra)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dunning.extras import EXTRAS
from tests.helpers import (
    SAMPLE_FILES,
    SAMPLES_AS_OF,
    raw_rows,
    read_manifest_lines,
    write_export,
)

ALL = [name for modules in EXTRAS.values() for name in modules]


def _run(args: list[str], blocked: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    code = (f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
            "from dunning.cli import main\n"
            f"sys.exit(main({args!r}))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_core_renders_one_letter_without_any_extra(tmp_path: Path) -> None:
    out = tmp_path / "letter.pdf"
    done = _run(["render", "--input", str(SAMPLE_FILES[0]), "--id", "MT-000004", "--as-of",
                 SAMPLES_AS_OF.isoformat(), "-o", str(out), "--json", "--ledger",
                 f"sqlite:///{tmp_path / 'ledger.sqlite'}"], ALL, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == "rendered"
    assert out.read_bytes().startswith(b"%PDF")


def test_core_runs_the_local_batch_without_any_extra(tmp_path: Path) -> None:
    export = write_export(tmp_path / "few.csv", raw_rows(SAMPLE_FILES[0])[:3])
    done = _run(["run", str(export), "--as-of", SAMPLES_AS_OF.isoformat(), "--out",
                 str(tmp_path / "run"), "--workers", "2", "--progress", "off"], ALL, tmp_path)
    assert done.returncode in (0, 1), done.stderr
    entries = read_manifest_lines(tmp_path / "run")
    assert len(entries) == 3
    rendered = [e for e in entries if e["outcome"] == "rendered"]
    assert rendered
    assert all((tmp_path / "run" / e["path"]).is_file() for e in rendered)


@pytest.mark.parametrize(("extra", "args"), [
    ("cluster", ["run", "{export}", "--as-of", "2026-11-20", "--out", "{tmp}/run",
                 "--cluster", "tcp://127.0.0.1:9"]),
    ("cluster", ["run", "{export}", "--as-of", "2026-11-20", "--out", "memory://bucket/x",
                 "--ledger", "sqlite:///{tmp}/ledger.sqlite"]),
    ("postgres", ["history", "MT-000004", "--ledger", "postgresql://nobody@127.0.0.1:9/none"]),
    ("preview", ["preview", "--port", "0"]),
    ("signing", ["verify", "{tmp}/letter.pdf"]),
], ids=["cluster", "object-store", "postgres", "preview", "signing"])
def test_a_command_names_the_extra_it_needs(tmp_path: Path, extra: str,
                                            args: list[str]) -> None:
    filled = [a.format(export=SAMPLE_FILES[0], tmp=tmp_path) for a in args]
    done = _run(filled, list(EXTRAS[extra]), tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"pip install 'dunning[{extra}]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
