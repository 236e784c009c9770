"""``dunning`` on the command line: thin commands over the library.

Exit codes (the table is :mod:`dunning.exitcodes`; :func:`main` is the one place that maps
outcomes and errors to them): 0 every row accounted for, nothing rejected or failed; 1 some
rows were rejected or failed (the data owner's to fix); 2 the command could not do its job
(bad config, templates that fail pre-flight, unreadable or empty input, bad arguments, a
crash), with the reason on stderr; 130 interrupted (SIGINT); 143 stopped by SIGTERM.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import Any

import click

from . import log as logsetup
from .errors import DunningError
from .exitcodes import FATAL as EXIT_FATAL
from .exitcodes import INTERRUPTED, TERMINATED
from .exitcodes import OK as EXIT_OK
from .exitcodes import ROWS as EXIT_ROWS
from .extras import require
from .settings import LETTER_TIMEOUT, Settings, check_as_of
from .stopping import Terminated


class _AsOf(click.ParamType[date, Any]):
    name = "DATE"

    def convert(self, value: Any, param: Any, ctx: Any) -> date:
        if isinstance(value, date):
            return value
        try:
            return check_as_of(date.fromisoformat(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO date (YYYY-MM-DD)", param, ctx)
        except DunningError as exc:
            self.fail(str(exc), param, ctx)


AS_OF = _AsOf()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="DUNNING_HOME",
              help="Project folder with templates/ and config/ (default: found from here).")
@click.option("-v", "--verbose", count=True, help="More log detail (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.option("--log-format", type=click.Choice(logsetup.FORMATS), default="text",
              show_default=True, envvar="DUNNING_LOG_FORMAT",
              help="Log lines as text (ISO time, level, logger, message) or one JSON object "
                   "a line for log collectors.")
@click.option("--allow-slow-subsetting", is_flag=True,
              help="Render even without libharfbuzz-subset (about 60x slower for CJK).")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, verbose: int, quiet: bool, log_format: str,
        allow_slow_subsetting: bool) -> None:
    """Turn overdue-loan records into formal overdue-notice letters (PDF)."""
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose else logging.WARNING)
    logsetup.configure(level, log_format)
    ctx.obj = {"home": home, "allow_slow": allow_slow_subsetting, "quiet": quiet}


def _settings(ctx: click.Context) -> Settings:
    """The settings of the project folder the command runs in (``--home``, else found)."""
    obj = ctx.find_root().obj
    settings = Settings.find(obj["home"])
    if obj["allow_slow"]:
        settings = settings.with_changes(allow_slow_subsetting=True)
    return settings


def _dunning(ctx: click.Context) -> Any:
    from .letter import Dunning

    return Dunning.load(_settings(ctx))


@cli.command()
@click.argument("inputs", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--input", "input_opts", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="An export to read (the same as giving it as an argument; repeatable).")
@click.option("--as-of", type=AS_OF, help="Date the letters speak from (default: today in the "
              "configured time zone).")
@click.option("--out", "out_dir", metavar="DIR|URL",
              help="Output folder (default: output/<as-of>/), or an fsspec URL such as "
                   "s3://bucket/prefix (then --ledger is required).")
@click.option("--workers", type=click.IntRange(min=1), help="Processes rendering letters, "
              "or planning rows with --dry-run (default: one per core; 1: this process "
              "alone).")
@click.option("--progress", type=click.Choice(["auto", "bar", "log", "off"]), default="auto",
              show_default=True, help="Progress on stderr: a bar on a terminal, else a log "
              "line (with -v) every 1000 rows or 10 s (off with -q).")
@click.option("--ledger", "ledger", metavar="URL", envvar="DUNNING_LEDGER",
              help="Run ledger database (SQLAlchemy URL, e.g. postgresql://user@host/db; "
                   "default: ledger.sqlite in the output folder, or output/ledger.sqlite).")
@click.option("--force", is_flag=True, help="Make every letter again (as a new version), even "
              "those the ledger says are already made.")
@click.option("--letter-timeout", type=click.FloatRange(min=1), default=LETTER_TIMEOUT,
              show_default=True, help="Seconds one letter may take before it fails.")
@click.option("--print-file", is_flag=True, help="Then write the print files, as "
              "`dunning print` does.")
@click.option("--cluster", metavar="tcp://HOST:8786", envvar="DUNNING_CLUSTER",
              help="Render on the workers of this Dask scheduler instead of local processes "
                   "(docs/cluster.md).")
@click.option("--allow-empty", is_flag=True, help="An export without a data row is not an "
              "error (by default it exits 2: the upstream export may have failed).")
@click.option("--dry-run", is_flag=True, help="Read, validate and plan every row; write the "
              "manifest, summary and rejects the run would, under DIR/dry-run/; no PDF, "
              "nothing in the ledger.")
@click.option("--no-preflight", is_flag=True, help="Skip the pre-flight checks of templates, "
              "stylesheets, catalogs and fonts (not recommended).")
@click.pass_context
def run(ctx: click.Context, inputs: tuple[Path, ...], input_opts: tuple[Path, ...],
        as_of: date | None, out_dir: str | None, workers: int | None, progress: str,
        ledger: str | None, force: bool, letter_timeout: float, print_file: bool,
        cluster: str | None, allow_empty: bool, dry_run: bool, no_preflight: bool) -> None:
    """Run the batch: pre-flight, then one PDF per overdue account, manifest.jsonl,
    summary.json and rejects.csv."""
    from .report import format_summary
    from .stopping import graceful_sigterm

    paths = [*inputs, *input_opts]
    if not paths:
        raise click.UsageError("give at least one export (INPUTS… or --input FILE)")
    if out_dir is not None and not out_dir.strip():
        raise click.BadParameter("is empty: give a folder or a URL (or leave --out out for "
                                 "output/<as-of>/)", param_hint="'--out'")
    if ctx.find_root().obj["quiet"]:
        progress = "off"
    if cluster and workers:
        raise click.UsageError("--workers does not apply with --cluster (the cluster's "
                               "workers render)")
    if print_file and (dry_run or out_dir):
        from .store import is_url

        if dry_run:
            raise click.UsageError("--print-file does not apply to a dry run (no letter)")
        if out_dir and is_url(out_dir):
            raise click.UsageError("--print-file needs a local output folder, not a URL: run "
                                   "`dunning print` where the letters are")
    with graceful_sigterm() as stop:
        dunning = _dunning(ctx)

        def before() -> None:  # once the run holds its folder (a second run is refused)
            _preflight(paths, dunning, allow_empty=allow_empty, skip_letters=no_preflight,
                       letter_timeout=letter_timeout)

        if dry_run:
            from .dryrun import dry_run as plan_run

            summary = plan_run(paths, as_of=as_of, out_dir=out_dir, dunning=dunning,
                               ledger=ledger, stop=stop, before=before, workers=workers)
        else:
            from .batch import run_batch

            summary = run_batch(paths, as_of=as_of, out_dir=out_dir, dunning=dunning,
                                workers=workers, progress=progress, ledger=ledger, force=force,
                                letter_timeout=letter_timeout, cluster=cluster or None,
                                stop=stop, before=before)
    _say(format_summary(summary.to_dict()))
    _say(f"manifest: {summary.manifest}")
    code = summary.exit_code
    if print_file and not summary.interrupted:
        from .printfile import make_print_files

        printed = make_print_files(summary.out_dir)
        _say(printed.describe())
        code = max(code, printed.exit_code)
    ctx.exit(code)


def _say(text: str) -> None:
    """``text`` on standard output. When its reader has gone (``dunning run … | head``), the
    run is not cut short for it: the rest of the output is dropped, stderr says so once, and
    the command goes on (print files) to its own exit code."""
    try:
        click.echo(text)
    except BrokenPipeError:
        import os

        try:  # so that Python's own flush at exit does not fail on the closed pipe
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is not a file (a test's capture)
            pass
        logsetup.LOGGER.warning(
            "standard output was closed by its reader: the rest of this command's output "
            "is not shown (a run's summary is in its summary.json); the command goes on")


def _preflight(paths: list[Path], dunning: Any, *, allow_empty: bool,
               skip_letters: bool, letter_timeout: float | None = None) -> None:
    """Pre-flight (:mod:`dunning.preflight`): an empty export, or what would fail every
    letter, stops the run here (exit 2) before any letter is written."""
    from .errors import PreflightError
    from .preflight import preflight, require_rows, scan_inputs

    if skip_letters:
        require_rows(scan_inputs(paths, dunning), paths, allow_empty)
        return
    result = preflight(paths, dunning, letter_timeout=letter_timeout)
    require_rows(result.scan, paths, allow_empty)
    if not result.ok:
        raise PreflightError(
            f"pre-flight: {len(result.findings)} problem(s) would fail every letter; no letter "
            f"was written. Fix these and rerun (`dunning check` shows the same):\n"
            + result.describe(), findings=[str(f) for f in result.findings])
    _say(f"pre-flight: ok in {result.seconds:.1f} s ({result.scan.rows} rows; "
               f"{result.letters} letters checked, {result.pdfs} as PDF)")


@cli.command("print")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--letters-per-file", type=click.IntRange(min=1), help="Split a stage with "
              "more letters into parts of this many (default: one file per brand and stage).")
@click.pass_context
def print_(ctx: click.Context, run_dir: Path, letters_per_file: int | None) -> None:
    """Write a run's print files: per brand and stage, one PDF in mailing order (postal
    code, then account id), each letter padded to an even page count, with its print
    manifest (CSV). RUN is the run's output folder, or its as-of date (YYYY-MM-DD)."""
    from .printfile import make_print_files

    result = make_print_files(_run_folder(ctx, run_dir), letters_per_file=letters_per_file)
    _say(result.describe())
    ctx.exit(result.exit_code)


def _run_folder(ctx: click.Context, run_dir: Path) -> Path:
    """RUN as a folder: itself, or output/<date>/ of the project when it is an as-of date."""
    if not run_dir.exists() and _is_date(str(run_dir)):
        return _settings(ctx).run_folder(date.fromisoformat(str(run_dir)))
    return run_dir


@cli.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print summary.json as it is.")
@click.pass_context
def report(ctx: click.Context, run_dir: Path, as_json: bool) -> None:
    """Print a run's report again: RUN is its output folder, or an as-of date (YYYY-MM-DD)
    for the default folder output/<date>/."""
    from .report import format_summary, load_summary

    data = load_summary(_run_folder(ctx, run_dir))
    _say(json.dumps(data, ensure_ascii=False, indent=2) if as_json
               else format_summary(data))
    ctx.exit(EXIT_OK if data.get("exit_code", 0) == 0 else EXIT_ROWS)


@cli.command()
@click.argument("account_id")
@click.option("--ledger", "ledger", metavar="URL", envvar="DUNNING_LEDGER",
              help="Ledger database URL (default: output/ledger.sqlite).")
@click.option("--ledger-dir", "--out", "ledger_dir", metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Read the ledger in this folder (DIR/ledger.sqlite): the --out folder the "
                   "runs were given. (--out is the old spelling.)")
@click.pass_context
def history(ctx: click.Context, account_id: str, ledger: str | None,
            ledger_dir: Path | None) -> None:
    """What an account was sent and when it was not, oldest first: as-of date, run, channel,
    stage, version, current or superseded, file and sha256; "no letter on DATE: REASON" for
    the nights its letter was suppressed."""
    from .errors import InputError
    from .ledger import LEDGER_FILE, Ledger
    from .report import format_history

    folder = _settings(ctx).ledger_folder(ledger_dir)
    if ledger is None and not (folder / LEDGER_FILE).is_file():
        raise InputError("no ledger here: no run has written to this folder yet "
                         "(or pass --ledger URL)", path=str(folder / LEDGER_FILE))
    book = Ledger(ledger) if ledger else Ledger.for_output(folder)
    try:
        _say(format_history(account_id, book.history(account_id),
                                  book.suppressions(account_id)))
    finally:
        book.close()


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


@cli.command()
@click.argument("input_arg", metavar="[INPUT]", required=False,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--input", "input_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A CSV/YAML export to pick the record from (with --id), or a file holding "
                   "one record (YAML or JSON; '-' for stdin). Also accepted as INPUT.")
@click.option("--id", "account_id", help="Account id of the record to render (exact: ids are "
              "case-sensitive).")
@click.option("--as-of", type=AS_OF, help="Date the letter speaks from (default: today).")
@click.option("-o", "--out", "--output", "output", required=True, metavar="FILE|-",
              help="Where to write the PDF ('-': standard output).")
@click.option("--json", "as_json", is_flag=True, help="Also print the outcome as one JSON "
              "line (on stdout; on stderr when the PDF goes to stdout).")
@click.option("--ledger", "ledger", metavar="URL", envvar="DUNNING_LEDGER",
              help="Ledger database the letter is recorded in (default: output/ledger.sqlite).")
@click.option("--force", is_flag=True, help="Make the letter although one was sent within "
              "the policy's minimum interval (needs --reason).")
@click.option("--reason", metavar="TEXT", help="Why the minimum interval is overridden "
              "(recorded with the letter).")
@click.option("--letter-timeout", type=click.FloatRange(min=1), default=LETTER_TIMEOUT,
              show_default=True, metavar="SECONDS", help="Time the letter may take before it "
              "fails, as in `dunning run`.")
@click.pass_context
def render(ctx: click.Context, input_arg: Path | None, input_file: Path | None,
           account_id: str | None, as_of: date | None, output: str, as_json: bool,
           ledger: str | None, force: bool, reason: str | None,
           letter_timeout: float) -> None:
    """Render one letter now, with the same templates and figures as the batch; it is
    recorded in the ledger, and a letter sent within the minimum interval (by any channel)
    suppresses it unless --force --reason.

    Says what happened in one sentence on stderr. Exit 0 when the letter was written or is
    suppressed (the sentence says why), 1 when the record is rejected or the letter failed,
    2 when the command could not do its job."""
    from .api import MAX_RECORD_BYTES, render_one
    from .errors import RenderError, TemplateError
    from .exitcodes import outcome_code
    from .single import check_pick, sentence

    source = input_file or input_arg
    if source is None:
        raise click.UsageError("give the export or record file: INPUT or --input FILE")
    if force and not (reason and reason.strip()):
        raise click.UsageError("--force needs --reason TEXT (it is recorded with the letter)")
    dunning = _dunning(ctx)
    # one byte more than a record may have, so render_one can say the input is too large
    stdin = sys.stdin.buffer.read(MAX_RECORD_BYTES + 1) if str(source) == "-" else None
    if stdin is None:
        check_pick(source, account_id, dunning)
    to_stdout = output == "-"
    try:
        result = render_one(source, account_id=account_id, as_of=as_of,
                            output=sys.stdout.buffer if to_stdout else Path(output),
                            dunning=dunning, stdin=stdin, ledger=ledger, force=force,
                            reason=reason, letter_timeout=letter_timeout)
    except (TemplateError, RenderError) as exc:
        result = {"account_id": account_id or getattr(exc, "account_id", None),
                  "outcome": "failed", "reason": str(exc)}
    click.echo(sentence(result), err=True)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False), err=to_stdout)
    ctx.exit(outcome_code(str(result["outcome"])))


@cli.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check Pango, HarfBuzz subsetting, fonts per locale and the config files."""
    from .doctor import run_checks

    obj = ctx.find_root().obj
    ok = True
    for check in run_checks(obj["home"]):
        mark = "ok " if check.ok else "FAIL"
        _say(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok and check.fix:
            _say(f"       fix: {check.fix}")
        ok &= check.ok
    ctx.exit(EXIT_OK if ok else EXIT_FATAL)


@cli.command()
@click.argument("inputs", nargs=-1, type=click.Path(dir_okay=False, exists=True,
                                                    path_type=Path))
@click.option("--input", "--samples", "samples", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Sample export(s) to render, as INPUTS… or with this option (default: "
                   "data/samples/*.csv|yaml); repeatable. (--samples is the old spelling.)")
@click.option("--no-pdf", is_flag=True, help="Check the HTML only (faster; no footer, "
              "stylesheet or asset checks).")
@click.option("--json", "as_json", is_flag=True, help="One JSON finding per line.")
@click.pass_context
def check(ctx: click.Context, inputs: tuple[Path, ...], samples: tuple[Path, ...],
          no_pdf: bool, as_json: bool) -> None:
    """Render every template × stage × locale × brand × sample and report what to fix."""
    from .check import check_project, format_report

    exports = [*inputs, *samples]
    report = check_project(_settings(ctx), samples=exports or None, pdf=not no_pdf)
    if as_json:
        for finding in report.findings:
            _say(json.dumps(finding.to_dict(), ensure_ascii=False))
    else:
        _say(format_report(report))
    ctx.exit(report.exit_code)


@cli.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0: any free port).")
@click.pass_context
def preview(ctx: click.Context, port: int) -> None:
    """Serve the live preview for template authors on http://127.0.0.1:PORT/."""
    require("preview", "dunning preview")
    from .preview import serve

    serve(_dunning(ctx).settings, port=port)


@cli.group()
def keys() -> None:
    """API keys of the letter service (`dunning serve`): made once, stored as hashes."""


@keys.command("add")
@click.argument("name")
@click.option("--brands", required=True, metavar="A,B", help="Brands the key may ask letters "
              "for (comma-separated brand keys).")
@click.option("--keys", "--file", "keys_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The API keys file, as `dunning serve --keys` reads it (default: "
                   "config/api-keys.yaml). (--file is the old spelling.)")
@click.pass_context
def keys_add(ctx: click.Context, name: str, brands: str, keys_file: Path | None) -> None:
    """Make a key NAME for BRANDS: its hash goes into the keys file, the key itself is printed
    once, alone on the last line."""
    from .keys import KEYS_FILE, add_key

    dunning = _dunning(ctx)
    path = keys_file or dunning.settings.config_dir / KEYS_FILE
    key = add_key(path, name, brands.split(","), dunning.brands.keys())
    click.echo(f"added key {name!r} for {brands} to {path}; it is shown only now:", err=True)
    _say(key)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only; put a reverse proxy "
                   "in front for others).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
              help="Warm renderer processes.")
@click.option("--keys", "keys_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The API keys file (default: config/api-keys.yaml).")
@click.option("--ledger", "ledger", metavar="URL", envvar="DUNNING_LEDGER",
              help="Ledger database (default: output/ledger.sqlite).")
@click.option("--letter-timeout", type=click.FloatRange(min=1), default=LETTER_TIMEOUT,
              show_default=True, help="Seconds one letter may take (then 504).")
@click.option("--queue", "queue_size", type=click.IntRange(min=1),
              help="Letter requests that may wait for a renderer before more get 429 "
                   "(default: 8 per renderer).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder the letters are written to, one folder per as-of date "
                   "(default: output/service/ in the project folder).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, keys_file: Path | None,
          ledger: str | None, letter_timeout: float, queue_size: int | None,
          out_dir: Path | None) -> None:
    """Serve letters on demand over HTTP for CRMs and agents (docs/service.md)."""
    require("service", "dunning serve")
    from .errors import ConfigError
    from .keys import KEYS_FILE, load_keys
    from .output import ensure_dir
    from .serve import serve as run
    from .service import LetterService

    dunning = _dunning(ctx)
    path = keys_file or dunning.settings.config_dir / KEYS_FILE
    keys = load_keys(path, dunning.brands.keys())
    if not keys.keys:
        raise ConfigError("no API keys: add one with `dunning keys add NAME --brands …`",
                          path=str(path))
    if out_dir is not None and not str(out_dir).strip():
        raise click.UsageError("--out is empty: give a folder")
    service = LetterService(dunning, keys, ledger_url=ledger, letters_dir=out_dir)
    ensure_dir(Path(str(service.letters_dir)))  # a folder it cannot write: exit 2 now
    run(service, host=host, port=port, workers=workers, letter_timeout=letter_timeout,
        queue_size=queue_size)


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--code", "codes", multiple=True, metavar="CODE",
              help="Check a verification code typed from a printed letter instead (offline, "
                   "with the brands' secrets from the environment).")
@click.option("--ledger", "ledger", metavar="URL", envvar="DUNNING_LEDGER",
              help="Also check the ledger knows each file's sha256 (SQLAlchemy URL).")
@click.option("--ledger-dir", "--out", "out_dir", metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Use the ledger in this folder (DIR/ledger.sqlite), as `dunning history "
                   "--ledger-dir` does. (--out is the old spelling.)")
@click.option("--password", default="", help="User password of encrypted letters.")
@click.pass_context
def verify(ctx: click.Context, files: tuple[Path, ...], codes: tuple[str, ...],
           ledger: str | None, out_dir: Path | None, password: str) -> None:
    """Check sealed letters: signature intact over the whole file, signer chained to the
    brand's trust anchor, attached data agreeing with the letter and, with a ledger, the
    file's sha256 known to it. One verdict per file (or code); exit 0 when all pass."""
    from .config import load_brands
    from .ledger import LEDGER_FILE, Ledger
    from .verify import verify_code, verify_file

    if not files and not codes:
        raise click.UsageError("give letter files, or --code CODE")
    require("signing", "dunning verify")
    settings = _settings(ctx)
    brands = load_brands(settings.brands_file, settings.assets_dir).by_key
    book = None
    if ledger:
        book = Ledger(ledger)
    elif out_dir is not None or codes:
        folder = settings.ledger_folder(out_dir)
        if (folder / LEDGER_FILE).is_file():
            book = Ledger.for_output(folder)
    try:
        ok = True
        for path in files:
            verdict = verify_file(path, brands, ledger=book, password=password)
            _say(verdict.line())
            ok &= verdict.ok
        for code in codes:
            result = verify_code(code, brands, book)
            for line in result.lines():
                _say(line)
            ok &= result.ok
    finally:
        if book is not None:
            book.close()
    ctx.exit(EXIT_OK if ok else EXIT_ROWS)


@cli.command()
@click.pass_context
def catalogs(ctx: click.Context) -> None:
    """Update the message catalogs from the templates and compile them; say what is left to
    translate (no make needed). Exit 1 while a Chinese catalog lacks a translation."""
    from .catalogs import format_catalog_report, update_catalogs

    settings = _settings(ctx)
    report = update_catalogs(settings)
    _say(format_catalog_report(report, settings.root))
    ctx.exit(EXIT_OK if report.complete else EXIT_ROWS)


def main(argv: list[str] | None = None) -> int:
    """Entry point; maps every outcome and error to an exit code (:mod:`dunning.exitcodes`)
    in this one place. The log level ``-v``/``-q`` set is the command's only: a caller of
    ``main`` (a test, a wrapper) finds the ``dunning`` logger's level as it was."""
    level = logsetup.LOGGER.level
    try:
        return _main(argv)
    finally:
        logsetup.LOGGER.setLevel(level)


def _main(argv: list[str] | None) -> int:
    try:
        code = cli.main(args=argv, prog_name="dunning", standalone_mode=False)
        return code if isinstance(code, int) else EXIT_OK
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_FATAL
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        click.echo("dunning: interrupted (SIGINT): stopped; nothing half-written, rerun to "
                   "resume", err=True)
        return INTERRUPTED
    except Terminated:
        click.echo("dunning: stopped by a second SIGTERM; nothing half-written, rerun to "
                   "resume", err=True)
        return TERMINATED
    except DunningError as exc:
        click.echo(f"dunning: error: {exc}", err=True)
        return EXIT_FATAL
    except Exception as exc:  # a failure of the command itself, never exit 1 ("data")
        if logsetup.LOGGER.isEnabledFor(logging.INFO):  # -v
            traceback.print_exc()
        click.echo(f"dunning: error: unexpected {type(exc).__name__}: {exc}"
                   + ("" if logsetup.LOGGER.isEnabledFor(logging.INFO)
                      else " (run with -v for the traceback)"), err=True)
        return EXIT_FATAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
