"""Devices, pipes, folders and huge files where dunning reads a file: each is refused in
plain words, never read without end (``/dev/zero``) and never waited on (a pipe with no
writer). Every command runs in its own process with a time limit, as an operator runs it,
so a command that hangs fails its test instead of hanging the suite."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dunning.batch import run_batch
from dunning.letter import Dunning
from dunning.output import read_regular
from dunning.printfile import make_print_files

from .helpers import ROOT, SAMPLE_FILES, SAMPLES_AS_OF, raw_rows, read_manifest_lines, write_export

EXE = str(Path(sys.executable).with_name("dunning"))
AS_OF = SAMPLES_AS_OF.isoformat()


def _dunning(*args: str, stdin: Path | None = None) -> subprocess.CompletedProcess[str]:
    with (stdin.open("rb") if stdin else open(os.devnull, "rb")) as source:
        return subprocess.run([EXE, *args], stdin=source, capture_output=True, text=True,
                              timeout=120, check=False)


@pytest.fixture
def odd(tmp_path: Path) -> dict[str, Path]:
    """A link to /dev/zero, a pipe nobody writes to, a folder and a sparse 70 MiB file, each
    under a name that looks like what the command wants."""
    folder = tmp_path / "odd"
    folder.mkdir()
    made = {}
    for suffix in (".pdf", ".yaml", ".json"):
        (folder / f"zero{suffix}").symlink_to("/dev/zero")
        os.mkfifo(folder / f"pipe{suffix}")
        made[f"zero{suffix}"] = folder / f"zero{suffix}"
        made[f"pipe{suffix}"] = folder / f"pipe{suffix}"
    huge = folder / "huge.pdf"
    with huge.open("wb") as handle:
        handle.truncate(70 * 1024**2)
    made["huge.pdf"] = huge
    return made


def test_read_regular_refuses_what_is_not_a_regular_file(odd: dict[str, Path],
                                                         tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"12345")
    assert read_regular(plain, limit=5) == b"12345"
    with pytest.raises(OSError, match="larger than the 4 bytes accepted") as big:
        read_regular(plain, limit=4)
    assert big.value.errno == errno.EFBIG
    for name in ("zero.pdf", "pipe.pdf"):
        with pytest.raises(OSError, match=r"^\[Errno 22\] a device or a pipe, not a regular "
                                          r"file$"):
            read_regular(odd[name], limit=1024)
    with pytest.raises(OSError, match="a folder, not a regular file"):
        read_regular(tmp_path, limit=1024)
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "absent", limit=1024)


def test_verify_refuses_devices_pipes_and_huge_files(odd: dict[str, Path]) -> None:
    files = [odd["zero.pdf"], odd["pipe.pdf"], odd["huge.pdf"]]
    done = _dunning("--home", str(ROOT), "verify", *map(str, files))
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        f"FAIL  {odd['zero.pdf']}: cannot read the file (a device or a pipe, not a regular "
        "file)",
        f"FAIL  {odd['pipe.pdf']}: cannot read the file (a device or a pipe, not a regular "
        "file)",
        f"FAIL  {odd['huge.pdf']}: cannot read the file (larger than the 67,108,864 bytes "
        "accepted)",
    ]


def test_render_refuses_a_device_or_pipe_as_its_record_and_bounds_stdin(
    odd: dict[str, Path], tmp_path: Path
) -> None:
    for name in ("zero.yaml", "pipe.yaml", "zero.json"):
        done = _dunning("--home", str(ROOT), "render", str(odd[name]), "--as-of", AS_OF,
                        "--out", str(tmp_path / "letter.pdf"))
        assert done.returncode == 2, (name, done.stderr)
        assert done.stderr.strip() == (
            f"dunning: error: {odd[name]}: cannot read: a device or a pipe, not a regular "
            "file; to read a record from a pipe, give - and send it to standard input")
    done = _dunning("--home", str(ROOT), "render", "-", "--as-of", AS_OF, "--out",
                    str(tmp_path / "letter.pdf"), stdin=Path("/dev/zero"))
    assert done.returncode == 2
    assert done.stderr.strip() == ("dunning: error: <stdin>: cannot read: larger than the "
                                   "8,388,608 bytes accepted for one record")
    assert not (tmp_path / "letter.pdf").exists()


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for folder in ("config", "templates", "locales", "data"):
        shutil.copytree(ROOT / folder, home / folder, symlinks=True)
    return home


def test_a_config_file_that_is_a_pipe_or_a_device_is_a_plain_error(tmp_path: Path) -> None:
    home = _home(tmp_path)
    brands = home / "config" / "brands.yaml"
    for make in (os.mkfifo, lambda p: p.symlink_to("/dev/zero")):
        brands.unlink()
        make(brands)
        checked = _dunning("--home", str(home), "check")
        assert checked.returncode == 1, checked.stderr
        assert "config/brands.yaml: error [config] the file cannot be read: a device or a " \
            "pipe, not a regular file" in checked.stdout
        ran = _dunning("--home", str(home), "run", str(SAMPLE_FILES[0]), "--as-of", AS_OF,
                       "--out", str(tmp_path / "out"))
        assert ran.returncode == 2
        assert ran.stderr.strip() == (f"dunning: error: {brands}: cannot read: a device or a "
                                      "pipe, not a regular file")
        assert not (tmp_path / "out" / "manifest.jsonl").exists()


def test_a_template_linked_to_a_device_stops_the_run_before_any_letter(tmp_path: Path) -> None:
    """A template author's link to /dev/zero among the partials (and one among the
    stylesheets): the checks finish, pre-flight names the file, nothing is read from it."""
    home = _home(tmp_path)
    (home / "templates" / "letter" / "partials" / "zero.html").symlink_to("/dev/zero")
    (home / "templates" / "assets" / "zero.css").symlink_to("/dev/zero")
    checked = _dunning("--home", str(home), "check", "--samples", str(SAMPLE_FILES[0]))
    assert checked.returncode == 1, checked.stderr
    assert "letter/partials/zero.html is not a regular file (a folder, or a link to a " \
        "device or a pipe): a template is a text file" in checked.stdout
    ran = _dunning("--home", str(home), "run", str(SAMPLE_FILES[0]), "--as-of", AS_OF,
                   "--out", str(tmp_path / "out"))
    assert ran.returncode == 2
    assert "templates/letter/partials/zero.html: error [template]" in ran.stderr
    assert "no letter was written" in ran.stderr
    assert not list((tmp_path / "out").rglob("*.pdf"))


def test_report_refuses_a_pipe_as_its_summary(odd: dict[str, Path]) -> None:
    done = _dunning("--home", str(ROOT), "report", str(odd["pipe.json"]))
    assert done.returncode == 2
    assert "a device or a pipe, not a regular file" in done.stderr


def test_print_refuses_a_file_for_a_run_folder_and_a_device_for_its_manifest(
    tmp_path: Path,
) -> None:
    done = _dunning("--home", str(ROOT), "print", os.devnull)
    assert done.returncode == 2
    assert done.stderr.strip() == ("dunning: error: /dev/null: not a folder: give the folder "
                                   "of a run (the --out the run was given)")
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.jsonl").symlink_to("/dev/zero")
    done = _dunning("--home", str(ROOT), "print", str(run))
    assert done.returncode == 2
    assert done.stderr.strip() == (f"dunning: error: {run}/manifest.jsonl: cannot read the run "
                                   "manifest: a device or a pipe, not a regular file")


def test_a_letter_replaced_by_a_device_is_left_out_of_the_print_file(
    tmp_path: Path, dunning: Dunning
) -> None:
    rows = [r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] in ("JQ-000004",
                                                                         "JQ-000005")]
    out = tmp_path / "run"
    run_batch([write_export(tmp_path / "in.csv", rows)], as_of=SAMPLES_AS_OF, out_dir=out,
              dunning=dunning, workers=1)
    entries = {e["account_id"]: e for e in read_manifest_lines(out)}
    swapped = out / entries["JQ-000005"]["path"]
    swapped.unlink()
    swapped.symlink_to("/dev/zero")
    result = make_print_files(out)
    assert result.exit_code == 1
    reasons = {s.account_id: s.reason for s in result.skipped}
    assert reasons == {"JQ-000005": f"cannot read {entries['JQ-000005']['path']}: a device "
                                    "or a pipe, not a regular file"}


def test_serve_refuses_a_letters_folder_it_cannot_make(tmp_path: Path) -> None:
    """`--out` naming a device: the service stops at start, not at its first letter (a 500
    for every request)."""
    from dunning.keys import add_key

    keys = tmp_path / "keys.yaml"
    add_key(keys, "crm", ["mingtai"], ["mingtai", "jinqiao", "lungmun", "risheng"])
    done = subprocess.run([EXE, "--home", str(ROOT), "serve", "--port", "0", "--workers", "1",
                           "--keys", str(keys), "--ledger",
                           f"sqlite:///{tmp_path / 'ledger.sqlite'}", "--out", os.devnull],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == "dunning: error: cannot create folder /dev/null: not a folder"


def test_a_ledger_on_a_device_is_one_line_not_the_sql(tmp_path: Path) -> None:
    """SQLite cannot use /dev/zero: the run stops before any letter with the driver's reason
    in one line (it printed SQLAlchemy's whole CREATE TABLE statement and a web link)."""
    done = _dunning("--home", str(ROOT), "run", str(SAMPLE_FILES[0]), "--as-of", AS_OF,
                    "--out", str(tmp_path / "out"), "--ledger", "sqlite:////dev/zero",
                    "--no-preflight")
    assert done.returncode == 2
    assert done.stderr.strip() == ("dunning: error: cannot open the ledger sqlite:////dev/zero: "
                                   "disk I/O error")
    assert not list((tmp_path / "out").rglob("*.pdf"))


def test_a_rerun_over_a_letter_swapped_for_a_pipe_makes_a_new_version(tmp_path: Path) -> None:
    """After the run, a letter's file is replaced by a pipe nobody writes to: the rerun
    (which reads current letters to compare them) does not wait on it; the letter counts as
    altered and gets a new version beside it."""
    rows = [r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] in ("MT-000004",
                                                                         "MT-000001")]
    export = write_export(tmp_path / "in.csv", rows)
    out = tmp_path / "out"
    args = ["--home", str(ROOT), "-q", "run", str(export), "--as-of", AS_OF, "--out", str(out),
            "--ledger", f"sqlite:///{tmp_path / 'ledger.sqlite'}", "--workers", "1",
            "--no-preflight"]
    assert _dunning(*args).returncode == 0
    entry = next(e for e in read_manifest_lines(out) if e["account_id"] == "MT-000004")
    swapped = out / entry["path"]
    swapped.unlink()
    os.mkfifo(swapped)
    done = _dunning(*args)
    assert done.returncode == 0, done.stderr
    again = {e["account_id"]: e for e in read_manifest_lines(out)}
    assert again["MT-000001"]["resumed"] is True
    assert again["MT-000004"]["path"].endswith("MT-000004~v2.pdf")
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["new_versions"] == {"file": 1}
