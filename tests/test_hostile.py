"""A hostile corpus: records and templates written to escape.

Records come from exports anyone in the lender's systems can type into; templates are edited by
non-programmers. For each case: no file outside the allowed folders is opened, no network is
touched, nothing crashes, and the row is either rendered with its text shown literally (checked in
the text poppler extracts from the PDF) or rejected / failed with a clear reason.

"No file is opened" and "no network is touched" are observed, not assumed:

- Python's audit hooks (PEP 578) record every ``open``, socket connect and name lookup,
  ``urllib`` request and process start while a :class:`Watch` is active;
- a canary FIFO outside the allowed folders blocks its writer until somebody opens it for
  reading, so a thread waiting to write into it sees any read, whoever makes it (Python or C);
- a TCP listener on 127.0.0.1, named by every http(s) URL in the corpus, must accept nothing.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import secrets
import shutil
import socket
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import dunning
from dunning.batch import run_batch
from dunning.errors import ConfigError, InputError, RenderError, TemplateError
from dunning.letter import Dunning
from dunning.output import safe_name
from dunning.records import (
    MAX_CSV_LINE,
    MAX_FILE_BYTES,
    MAX_YAML_BYTES,
    Record,
    Rejection,
    read_records,
)
from dunning.settings import Settings
from dunning.yamlconf import MAX_YAML_DEPTH, load_yaml_text

from .helpers import ROOT, SAMPLE_FILES, SAMPLES_AS_OF, check_id, pdf_text, raw_rows, squash

# --------------------------------------------------------------------------- observation

_EVENTS = frozenset({
    "open", "socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
    "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg", "urllib.Request",
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
})
_NETWORK = _EVENTS - {"open", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
                      "os.spawn"}


@dataclass
class Watch:
    """While active: every audited file open, network call and process start, by thread."""

    events: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    ignore_threads: set[int] = field(default_factory=set)

    def opened(self) -> list[str]:
        paths = []
        for event, args in self.events:
            if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
                paths.append(os.path.abspath(os.fsdecode(args[0])))
        return paths

    def network(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [(event, args) for event, args in self.events if event in _NETWORK]

    def processes(self) -> list[str]:
        return [str(args[0]) for event, args in self.events
                if event != "open" and event not in _NETWORK]


_ACTIVE: list[Watch] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _ACTIVE and event in _EVENTS:
        thread = threading.get_ident()
        for watch in _ACTIVE:
            if thread not in watch.ignore_threads:
                watch.events.append((event, args))


sys.addaudithook(_audit)  # audit hooks cannot be removed; it does nothing while no Watch runs


@pytest.fixture(scope="module", autouse=True)
def _warm(dunning: Dunning) -> None:
    """Import WeasyPrint and render once before watching: importing it looks for its C
    libraries (ctypes writes temp files in /tmp for that), which is not rendering."""
    dunning.render(dunning.plan(_record(dunning), SAMPLES_AS_OF))


@pytest.fixture
def watch() -> Iterator[Watch]:
    found = Watch()
    _ACTIVE.append(found)
    try:
        yield found
    finally:
        _ACTIVE.remove(found)


def _runtime_roots() -> list[str]:
    """What any render may read: the Python installation and venv, the dunning package, the
    fonts and their caches, the time zone database."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(dunning.__file__).parent),
             "/usr/share/fonts", "/usr/local/share/fonts", "/etc/fonts", "/var/cache/fontconfig",
             str(Path.home() / ".cache" / "fontconfig"), str(Path.home() / ".fonts"),
             "/usr/share/zoneinfo", "/dev/null"}
    return sorted(os.path.realpath(root) for root in roots)


def assert_confined(watch: Watch, *allowed: Path) -> None:
    """Every file opened is under ``allowed`` or the runtime's own folders; no network call;
    no process but fontconfig's fc-list."""
    roots = [os.path.realpath(p) for p in (*allowed, *SAMPLE_FILES)] + _runtime_roots()
    # WeasyPrint keeps @font-face fonts in a temp folder of its own (and removes it)
    own = os.path.join(os.path.realpath(tempfile.gettempdir()), "weasyprint-")
    outside = [p for p in map(os.path.realpath, watch.opened())
               if not p.startswith(own)
               and not any(p == root or p.startswith(root + os.sep) for root in roots)]
    assert not outside, f"opened outside the allowed folders: {outside}"
    assert not watch.network(), f"network touched: {watch.network()}"
    assert all(Path(p).name == "fc-list" for p in watch.processes()), watch.processes()


class Canary:
    """Files outside the allowed folders that must never be read: a regular file with a unique
    text, a stylesheet, a JSON file, and a FIFO whose writer (a thread of this test) only gets
    past ``open`` when somebody opens the FIFO for reading."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.secret = f"CANARY-{secrets.token_hex(8)}"
        self.text = folder / "canary.txt"
        self.text.write_text(self.secret + "\n", "utf-8")
        self.css = folder / "canary.css"
        self.css.write_text(f'p::after {{ content: "{self.secret}" }}\n', "utf-8")
        self.json = folder / "canary.json"
        self.json.write_text(json.dumps({"secret": self.secret}), "utf-8")
        self.html = folder / "canary.html"
        self.html.write_text(f"<p>{self.secret}</p>\n", "utf-8")
        self.fifo = folder / "canary.fifo"
        os.mkfifo(self.fifo)
        self.read = False
        self._closing = False
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._wait_for_reader, daemon=True)
        self._thread.start()
        self._started.wait(5)

    def _wait_for_reader(self) -> None:
        self.ident = threading.get_ident()
        self._started.set()
        fd = os.open(self.fifo, os.O_WRONLY)  # blocks until a reader opens the FIFO
        if not self._closing:
            self.read = True
        os.close(fd)

    def close(self) -> None:
        """Release the waiting writer (by reading the FIFO ourselves) and report."""
        self._closing = True
        fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self._thread.join(5)
        os.close(fd)
        assert not self._thread.is_alive()

    def paths(self) -> list[Path]:
        return [self.text, self.css, self.json, self.html, self.fifo]


@pytest.fixture
def canary(tmp_path: Path, watch: Watch) -> Iterator[Canary]:
    found = Canary(tmp_path / "outside")
    watch.ignore_threads.add(found.ident)
    yield found
    found.close()
    assert not found.read, "the canary FIFO outside the allowed folders was opened"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on 127.0.0.1 that must not receive any connection."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock
        try:
            conn, peer = sock.accept()
        except BlockingIOError:
            return
        conn.close()
        pytest.fail(f"the listener received a connection from {peer}")


# --------------------------------------------------------------------------- templates


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for folder in ("config", "templates", "locales"):
        shutil.copytree(ROOT / folder, home / folder)
    return home


def _record(dunning: Dunning, account_id: str = "MT-000004") -> Record:
    return next(r for r in read_records([SAMPLE_FILES[0]], dunning.record_rules())
                if isinstance(r, Record) and r.account_id == account_id)


def _render(home: Path) -> None:
    dunning = Dunning.load(Settings.at(home))
    dunning.render(dunning.plan(_record(dunning), SAMPLES_AS_OF))


# {c.*}: canary paths; {port}: the listener's port. Each is put in a partial of a fresh copy.
HOSTILE_MARKUP = {
    "img-file-outside": '<img src="file://{c.text}">',
    "img-fifo-outside": '<img src="file://{c.fifo}">',
    "img-etc-passwd": '<img src="file:///etc/passwd">',
    "img-http": '<img src="http://127.0.0.1:{port}/x.png">',
    "img-https": '<img src="https://127.0.0.1:{port}/x.png">',
    "img-ftp": '<img src="ftp://127.0.0.1:{port}/x.png">',
    "img-data-url": '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAf'
                    'FcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==">',
    "link-data-css": '<link rel="stylesheet" href="data:text/css,p{{color:red}}">',
    "link-http-css": '<link rel="stylesheet" href="http://127.0.0.1:{port}/x.css">',
    "link-file-css": '<link rel="stylesheet" href="file://{c.css}">',
    "link-relative-up": '<link rel="stylesheet" href="../../../outside/canary.css">',
    "link-percent-dotdot": '<link rel="stylesheet" href="%2e%2e/%2e%2e/%2E%2E/outside/canary.css">',
    "link-percent-slash": '<link rel="stylesheet" href="..%2f..%2f..%2foutside%2fcanary.css">',
    "link-backslash": '<link rel="stylesheet" href="..\\..\\..\\outside\\canary.css">',
    "link-unc-host": '<link rel="stylesheet" href="file://127.0.0.1{c.css}">',
    "link-nul": '<link rel="stylesheet" href="letter.css%00.png">',
    "style-import-http": '<style>@import url("http://127.0.0.1:{port}/x.css");</style>',
    "style-import-file": '<style>@import "file://{c.css}";</style>',
    "style-url-http": '<style>p {{ background: url("http://127.0.0.1:{port}/x.png") }}</style>',
    "style-url-file": '<style>p {{ background: url("file://{c.text}") }}</style>',
    "style-font-face": '<style>@font-face {{ font-family: x; src: url("file://{c.text}") }}'
                       ' p {{ font-family: x }}</style>',
    "style-content-url": '<style>p::before {{ content: url("file://{c.text}") }}</style>',
    "style-list-image": '<style>li {{ list-style-image: url("http://127.0.0.1:{port}/a.png") }}'
                        '</style><ul><li>x</li></ul>',
    "base-href-http": '<base href="http://127.0.0.1:{port}/"><img src="x.png">',
    "attachment": '<link rel="attachment" href="file://{c.text}">',
    "a-attachment": '<a rel="attachment" href="file://{c.text}">x</a>',
    "object": '<object data="file://{c.text}"></object>',
    "embed": '<embed src="file://{c.text}">',
    "svg-image": '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                 '<image href="file://{c.text}" width="10" height="10"/></svg>',
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MARKUP))
def test_template_markup_reaches_only_the_assets(
    case: str, tmp_path: Path, watch: Watch, canary: Canary, listener: socket.socket,
) -> None:
    home = _home(tmp_path)
    markup = HOSTILE_MARKUP[case].format(c=canary, port=listener.getsockname()[1])
    (home / "templates/letter/partials/signature.html").write_text(
        f"{markup}<p>signed</p>", "utf-8")
    watch.events.clear()
    with pytest.raises(RenderError) as info:
        _render(home)
    assert_confined(watch, home / "templates", home / "locales", home / "config")
    assert canary.secret not in str(info.value)


HOSTILE_CSS = {
    "import-http": '@import url("http://127.0.0.1:{port}/x.css");\n',
    "import-file": '@import "file://{c.css}";\n',
    "import-relative-up": '@import "../../../outside/canary.css";\n',
    "url-file": 'body {{ background: url("file://{c.text}") }}\n',
    "url-http": 'body {{ background: url("http://127.0.0.1:{port}/x.png") }}\n',
    "url-percent-dotdot": 'body {{ background: url("%2e%2e/%2e%2e/%2e%2e/outside/canary.txt") }}\n',
    "font-face-file": '@font-face {{ font-family: x; src: url("file:///etc/passwd") }}\n'
                      'body {{ font-family: x }}\n',
    "data-url": 'body {{ background: url("data:image/svg+xml,<svg/>") }}\n',
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CSS))
def test_stylesheets_reach_only_the_assets(
    case: str, tmp_path: Path, watch: Watch, canary: Canary, listener: socket.socket,
) -> None:
    home = _home(tmp_path)
    sheet = home / "templates/assets/letter.css"
    rule = HOSTILE_CSS[case].format(c=canary, port=listener.getsockname()[1])
    sheet.write_text(rule + sheet.read_text("utf-8"), "utf-8")  # @import must come first
    watch.events.clear()
    with pytest.raises(RenderError, match="outside the templates' assets"):
        _render(home)
    assert_confined(watch, home / "templates", home / "locales", home / "config")


def test_a_symlink_in_the_assets_cannot_lead_out(
    tmp_path: Path, watch: Watch, canary: Canary,
) -> None:
    home = _home(tmp_path)
    (home / "templates/assets/evil.css").symlink_to(canary.css)
    (home / "templates/assets/fifo.css").symlink_to(canary.fifo)
    (home / "templates/letter/partials/signature.html").write_text(
        '<link rel="stylesheet" href="evil.css"><link rel="stylesheet" href="fifo.css">', "utf-8")
    watch.events.clear()
    with pytest.raises(RenderError, match=r"evil\.css"):
        _render(home)
    assert_confined(watch, home / "templates", home / "locales", home / "config")


def test_assets_of_unknown_kinds_are_refused(tmp_path: Path, watch: Watch) -> None:
    home = _home(tmp_path)
    (home / "templates/assets/notes.yaml").write_text("a: 1\n", "utf-8")
    (home / "templates/letter/partials/signature.html").write_text(
        '<link rel="stylesheet" href="notes.yaml">', "utf-8")
    with pytest.raises(RenderError, match=r"notes\.yaml"):
        _render(home)


# Jinja: files, imports, Python internals, context objects' methods, resource exhaustion.
HOSTILE_JINJA = {
    "include-absolute": ("{{% include '/etc/passwd' %}}", "not found"),
    "include-canary": ("{{% include '{c.html}' %}}", "not found"),
    "include-dotdot": ("{{% include '../../config/brands.yaml' %}}", "brands.yaml"),
    "include-inner-dotdot": ("{{% include 'letter/../../config/brands.yaml' %}}", "brands.yaml"),
    "extends-dotdot": ("{{% extends '../outside/canary.html' %}}", "canary.html"),
    "import-module": ("{{% import 'os' as os %}}{{{{ os.system('id') }}}}", "'os' not found"),
    "from-import": ("{{% from '/etc/passwd' import root %}}", "not found"),
    "class-mro": ("{{{{ ''.__class__.__mro__[1].__subclasses__() }}}}", "unsafe"),
    "cycler-globals": ("{{{{ cycler.__init__.__globals__.os.popen('id').read() }}}}", "unsafe"),
    "lipsum-globals": ("{{{{ lipsum.__globals__['os'] }}}}", "unsafe"),
    "self-context": ("{{{{ self._TemplateReference__context }}}}", "unsafe"),
    "format-string": ("{{{{ '{{0.__class__.__init__.__globals__}}'.format(brand) }}}}",
                      "unsafe"),
    "attr-filter": ("{{{{ brand|attr('__class__') }}}}", "unsafe"),
    "model-parse-file": ("{{{{ brand.parse_file('{c.json}') }}}}", "unsafe"),
    "model-parse-file-item": ("{{{{ brand['parse_file']('{c.json}') }}}}", "unsafe"),
    "model-parse-file-attr": ("{{{{ (brand|attr('parse_file'))('{c.json}') }}}}", "unsafe"),
    "model-validate-json": ("{{{{ brand.model_validate_json('{{}}') }}}}", "unsafe"),
    "model-copy": ("{{{{ brand.model_copy(update={{'logo': '/etc/passwd'}}) }}}}", "unsafe"),
    "policy-method": ("{{{{ policy.stage_for(1) }}}}", "unsafe"),
    "items-method": ("{{{{ items.penalty_basis.accrued(1, 1, 'CNY') }}}}", "unsafe"),
    "mutate-list": ("{{% set x = [] %}}{{{{ x.append(1) }}}}", "unsafe"),
    "string-repeat": ("{{{{ 'x' * 10**10 }}}}", "longer than"),
    "power": ("{{{{ 2 ** (10 ** 10) }}}}", "power"),
    "range": ("{{{{ range(10**9)|list|length }}}}", "Range too big"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_JINJA))
def test_templates_cannot_reach_files_modules_or_internals(
    case: str, tmp_path: Path, watch: Watch, canary: Canary,
) -> None:
    home = _home(tmp_path)
    content, message = HOSTILE_JINJA[case]
    (home / "templates/letter/partials/contacts.html").write_text(
        content.format(c=canary), "utf-8")
    watch.events.clear()
    with pytest.raises(TemplateError, match=message) as info:
        _render(home)
    assert info.value.template == "letter/partials/contacts.html"
    assert canary.secret not in str(info.value)
    assert_confined(watch, home / "templates", home / "locales", home / "config")


@pytest.mark.parametrize("target", ["html", "fifo"])
def test_a_template_symlinked_out_of_the_folder_is_not_read(
    target: str, tmp_path: Path, watch: Watch, canary: Canary,
) -> None:
    home = _home(tmp_path)
    (home / "templates/letter/partials/evil.html").symlink_to(getattr(canary, target))
    (home / "templates/letter/partials/contacts.html").write_text(
        "{% include 'letter/partials/evil.html' %}", "utf-8")
    watch.events.clear()
    with pytest.raises(TemplateError, match=r"evil\.html"):
        _render(home)
    assert_confined(watch, home / "templates", home / "locales", home / "config")


@pytest.mark.parametrize("name", ["letter/x.html", "letter/x.css", "letter/x.txt", "letter/x"])
def test_every_template_autoescapes_whatever_its_name(name: str, tmp_path: Path) -> None:
    from dunning.compose import environment

    home = _home(tmp_path)
    (home / "templates" / name).write_text("{{ value }}", "utf-8")
    env = environment(home / "templates", home / "locales", "zh_CN")
    rendered = env.get_template(name).render(value="<b>&\"'</b>")
    assert rendered == "&lt;b&gt;&amp;&#34;&#39;&lt;/b&gt;"


def test_context_data_stays_readable(tmp_path: Path) -> None:
    """The sandbox's extra rules keep what templates need: data attributes, str and date
    methods, loops, filters."""
    home = _home(tmp_path)
    (home / "templates/letter/partials/contacts.html").write_text(
        "<p>{{ brand.key|upper }} {{ brand.id_mask.keep_end }} {{ letter.as_of.strftime('%Y') }}"
        " {{ borrower.name.strip() }} {% for line in borrower.address %}{{ loop.index }}"
        "{% endfor %} {{ 'ab' * 3 }} {{ 2 ** 10 }}</p>", "utf-8")
    dunning = Dunning.load(Settings.at(home))
    html = dunning.html(dunning.plan(_record(dunning), SAMPLES_AS_OF))
    assert "MINGTAI 4 2026" in html
    assert "ababab 1024" in html


def test_error_messages_do_not_quote_the_borrower(tmp_path: Path) -> None:
    home = _home(tmp_path)
    (home / "templates/letter/partials/contacts.html").write_text(
        "{{ letter[borrower.name] }}{{ letter[borrower.address[0]] }}", "utf-8")
    dunning = Dunning.load(Settings.at(home))
    record = _record(dunning)
    with pytest.raises(TemplateError, match="<name>") as info:
        dunning.render(dunning.plan(record, SAMPLES_AS_OF))
    assert record.name not in str(info.value)


# --------------------------------------------------------------------------- records

HEADER = list(raw_rows(SAMPLE_FILES[0])[0])


def _sample(base: str = "MT-000004", **changes: str) -> dict[str, str]:
    row = next(r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == base)
    return {**row, **changes}


def _csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=HEADER)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8", "surrogateescape")


def _rows(dunning: Dunning, path: Path) -> list[Record | Rejection]:
    return list(read_records([path], dunning.record_rules()))


@pytest.mark.parametrize(("case", "value", "problem"), [
    ("one line", "x" * 2_000_000, f"a line is longer than {MAX_CSV_LINE} characters"),
    ("many lines", ("x" * 1000 + "\n") * 2000, "a value is longer than 131072 characters"),
    ("one value", "x" * 200_000, "a value is longer than 131072 characters"),
])
def test_an_oversized_csv_value_rejects_its_row_and_the_file_goes_on(
    case: str, value: str, problem: str, tmp_path: Path, dunning: Dunning,
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(_csv_bytes([
        _sample("MT-000004", account_id="A-1"), _sample("MT-000004", account_id="A-2",
                                                        address=value),
        _sample("MT-000005", account_id="A-3"),
    ]))
    first, bad, last = _rows(dunning, path)
    assert isinstance(first, Record)
    assert isinstance(bad, Rejection)
    assert bad.where == f"{path}:5"  # the header, then A-1 over three lines
    assert bad.error.reason.startswith(problem)
    assert isinstance(last, Record)
    assert last.account_id == "A-3"


def test_a_csv_line_of_many_values_is_bounded(tmp_path: Path, dunning: Dunning) -> None:
    body = _csv_bytes([_sample(account_id="A-1"), _sample(account_id="A-2")]).decode()
    head, first, rest = body.split("\r\n", 1)[0], "", body.split("\r\n", 1)[1]
    first, _, rest = rest.partition("A-2")
    path = tmp_path / "in.csv"
    path.write_text(f"{head}\r\n{first.rstrip()},{',' * 3_000_000}\r\nA-2{rest}", "utf-8")
    bad, good = _rows(dunning, path)
    assert isinstance(bad, Rejection)
    assert "longer than" in bad.error.reason
    assert isinstance(good, Record)


@pytest.mark.parametrize("char", [
    "\u202e", "\u202d", "\u2066", "\u061c", "\u200b", "\u200d", "\u2060", "\ufeff",
    "\u00ad", "\u2028", "\u2029", "\U000e0041", "\u3164", "\x00", "\x1b", "\x85",
])
@pytest.mark.parametrize("field", ["name", "address", "contract_no"])
def test_direction_changing_invisible_and_control_characters_are_refused(
    char: str, field: str, tmp_path: Path, dunning: Dunning,
) -> None:
    row = _sample(account_id="A-1")
    row[field] = row[field][:2] + char + row[field][2:]
    path = tmp_path / "in.csv"
    path.write_bytes(_csv_bytes([row]))
    [rejected] = _rows(dunning, path)
    assert isinstance(rejected, Rejection)
    assert f"{field}: contains" in rejected.error.reason
    assert f"U+{ord(char):04X}" in rejected.error.reason


def test_rare_characters_and_variation_selectors_are_accepted(
    tmp_path: Path, dunning: Dunning,
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(_csv_bytes([_sample(account_id="A-1", name="𠮷野\U000e0100堃")]))
    [row] = _rows(dunning, path)
    assert isinstance(row, Record)


def test_malformed_utf8_is_refused_with_the_field_named(tmp_path: Path, dunning: Dunning) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(_csv_bytes([_sample(account_id="A-1", name="王\udcff\udcfe明"),
                                 _sample(account_id="A-2")]))
    bad, good = _rows(dunning, path)
    assert isinstance(bad, Rejection)
    assert bad.error.reason.startswith("name: is not valid UTF-8")
    assert isinstance(good, Record)


def test_a_100000_character_name_is_refused(tmp_path: Path, dunning: Dunning) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(_csv_bytes([_sample(account_id="A-1", name="王" * 100_000)]))
    [bad] = _rows(dunning, path)
    assert isinstance(bad, Rejection)
    assert bad.error.reason.startswith("name: is 100000 characters long (expected at most 100)")


PYTHON_TAG = "!!python/object/apply:os.system ['touch {marker}']"


def test_python_tags_in_a_yaml_record_reject_that_record(
    tmp_path: Path, dunning: Dunning, watch: Watch,
) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "in.yaml"
    path.write_text(
        "records:\n"
        f"  - account_id: Y-1\n    name: {PYTHON_TAG.format(marker=marker)}\n"
        f"  - account_id: Y-2\n    name: !!python/name:os.system\n"
        "  - account_id: Y-3\n", "utf-8")
    first, second, third = _rows(dunning, path)
    for rejected in (first, second):
        assert isinstance(rejected, Rejection)
        assert "could not determine a constructor for the tag" in rejected.error.reason
    assert isinstance(third, Rejection)
    assert "is required" in third.error.reason
    assert not marker.exists()
    assert not watch.processes()


@pytest.mark.parametrize("name", ["brands.yaml", "policy.yaml", "settings.yaml"])
def test_python_tags_in_config_files_are_refused(
    name: str, tmp_path: Path, watch: Watch,
) -> None:
    marker = tmp_path / "pwned"
    home = _home(tmp_path)
    (home / "config" / name).write_text(f"x: {PYTHON_TAG.format(marker=marker)}\n", "utf-8")
    with pytest.raises(ConfigError, match="could not determine a constructor"):
        Dunning.load(Settings.at(home))
    assert not marker.exists()
    assert not watch.processes()


BILLION_LAUGHS = (Path(__file__).parent / "data" / "hostile" / "billion_laughs.yaml")


def test_a_yaml_bomb_is_refused_in_records_and_config(tmp_path: Path, dunning: Dunning) -> None:
    with pytest.raises(InputError, match=r"billion_laughs\.yaml:\d+: invalid YAML: aliases"):
        _rows(dunning, BILLION_LAUGHS)
    with pytest.raises(ConfigError, match="aliases"):
        load_yaml_text(BILLION_LAUGHS.read_text("utf-8"), path="policy.yaml")


@pytest.mark.parametrize("text", [
    "records:\n  - account_id: D-1\n    name: " + "[" * 5000 + "]" * 5000 + "\n",
    "- " + "[" * 100_000 + "]" * 100_000 + "\n",
    "".join(f"{' ' * i}k{i}:\n" for i in range(200)) + " " * 200 + "v\n",
])
def test_deeply_nested_yaml_is_refused_not_a_crash(
    text: str, tmp_path: Path, dunning: Dunning,
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(InputError, match=f"nested deeper than {MAX_YAML_DEPTH} levels"):
        _rows(dunning, path)
    with pytest.raises(ConfigError, match="nested deeper"):
        load_yaml_text(text, path="conf.yaml")


def test_deep_json_for_one_letter_is_refused_not_a_crash(tmp_path: Path, dunning: Dunning) -> None:
    from dunning.api import render_one

    path = tmp_path / "one.json"
    path.write_text("[" * 100_000 + "]" * 100_000, "utf-8")
    with pytest.raises(InputError, match="nested too deeply"):
        render_one(path, output=tmp_path / "x.pdf", dunning=dunning)


@pytest.mark.parametrize(("name", "size", "message"), [
    ("huge.yaml", MAX_YAML_BYTES + 1, "accepted for YAML"),
    ("huge.csv", MAX_FILE_BYTES + 1, "accepted"),
])
def test_oversized_inputs_are_refused_before_reading(
    name: str, size: int, message: str, tmp_path: Path, dunning: Dunning, watch: Watch,
) -> None:
    path = tmp_path / name
    with path.open("wb") as handle:
        handle.truncate(size)  # sparse: nothing is written
    watch.events.clear()
    with pytest.raises(InputError, match=f"{size} bytes is larger than the .* {message}"):
        _rows(dunning, path)
    assert str(path) not in watch.opened()


def test_yaml_is_read_only_through_the_safe_loader() -> None:
    """No unsafe loader, no eval/exec/pickle/shell anywhere in the package."""
    source = Path(dunning.__file__).parent
    bad = re.compile(r"yaml\.(unsafe_load|full_load|load_all|Loader|FullLoader|UnsafeLoader)\b"
                     r"|\bpickle\b|\beval\(|\bexec\(|shell=True|os\.system|os\.popen")
    for path in source.rglob("*.py"):
        text = path.read_text("utf-8")
        assert not bad.search(text), (path, bad.search(text))
        for call in re.finditer(r"yaml\.load\(([^)]*)\)", text):
            assert "Loader=SafeDataLoader" in call.group(1), (path, call.group())


# --------------------------------------------------------------------------- the batch


def _id(n: int) -> str:
    id17 = f"11010519900101{n:03d}"
    return id17 + check_id(id17)


@dataclass
class Row:
    """One hostile (or ordinary) input row and what must become of it."""

    key: str
    outcome: str  # rendered | rejected
    values: dict[str, str]
    shown: list[str] = field(default_factory=list)  # text the letter must show literally
    reason: str = ""  # start of the rejection reason


def _corpus(canary: Canary, port: int) -> list[Row]:
    http = f"http://127.0.0.1:{port}"
    rows = [
        Row("plain", "rendered", {}),
        Row("script", "rendered", {"name": "<script>alert('H1')</script>"},
            ["<script>alert('H1')</script>"]),
        Row("img", "rendered", {"name": '<img src="file:///etc/passwd">'},
            ['<img src="file:///etc/passwd">']),
        Row("css", "rendered", {"address": f'<style>@import url("{http}/x.css");</style>\n'
                                           f'<p style="background:url(file://{canary.text})">'},
            [f'<style>@import url("{http}/x.css");</style>', "background:url(file://"]),
        Row("jinja", "rendered", {"name": "{{ ''.__class__ }}{{7*7}}",
                                  "address": "{% include '/etc/passwd' %}\n{{ cycler }}"},
            ["{{ ''.__class__ }}{{7*7}}", "{% include '/etc/passwd' %}"]),
        Row("css-string", "rendered", {"contract_no": f'"}}</style><link href={http}/x.css>'},
            [f'"}}</style><link href={http}/x.css>']),
        Row("formula", "rendered", {"name": '=HYPERLINK("http://x","y")'},
            ['=HYPERLINK("http://x","y")']),
        Row("dotdot", "rendered", {"account_id": ".."}),
        Row("reserved", "rendered", {"account_id": "CON"}),
        Row("dotfile", "rendered", {"account_id": ".hidden"}),
        Row("traversal", "rejected", {"account_id": "../../etc/passwd"},
            reason="account_id: '../../etc/passwd' has characters outside"),
        Row("rlo", "rejected", {"name": "王\u202e明明"}, reason="name: contains invisible"),
        Row("zwsp", "rejected", {"name": "王\u200b明明"}, reason="name: contains invisible"),
        Row("nul", "rejected", {"name": "王\x00明明"}, reason="name: contains control character"),
        Row("long-name", "rejected", {"name": "王" * 100_000}, reason="name: is 100000 characters"),
        Row("bad-utf8", "rejected", {"name": "王\udcff\udcfe明"},
            reason="name: is not valid UTF-8"),
        Row("huge-value", "rejected", {"address": ("x" * 999 + "\n") * 2_000},
            reason="a value is longer than"),
        Row("phone-formula", "rejected", {"phone": "=cmd|' /C calc'!A0"},
            reason="phone: is not a phone number"),
        Row("postal-script", "rejected", {"postal_code": "<script>"}, reason="postal_code:"),
        Row("bad-id", "rejected", {"id_number": "110105199001010011"}, reason="id_number:"),
        Row("fullwidth-digits", "rejected", {"overdue_interest": "０.９"},
            reason="overdue_interest: '０.９' is not a plain decimal amount (only the ASCII"),
        Row("arabic-digits", "rejected", {"fees": "١٢٣"},
            reason="fees: '١٢٣' is not a plain decimal amount (only the ASCII"),
        Row("gold", "rejected", {"currency": "XAU"},
            reason="currency: 'XAU' is not a currency letters are made in"),
        Row("version-like", "rendered", {"account_id": "H-001.v2"}),
    ]
    for n, row in enumerate(rows, start=1):  # each row its own account, ID number and phone
        row.values = _sample(**{"account_id": f"H-{n:03d}", "id_number": _id(n),
                                "phone": f"1391234{n:04d}", **row.values})
        if row.key == "bad-id":
            row.values["id_number"] = row.values["id_number"][:-1] + (
                "1" if row.values["id_number"][-1] != "1" else "2")
    return rows


def _personal(values: dict[str, str]) -> list[str]:
    """The personal values of a row that must appear nowhere but in its letter."""
    found = []
    for name in ("name", "id_number", "phone"):
        value = values.get(name, "")
        if len(value) >= 2:
            found.append(value)
            digits = "".join(ch for ch in value if ch.isdigit())
            if name == "phone" and len(digits) >= 5:
                found.append(digits)
    return found


@pytest.mark.parametrize("workers", [1, 2])
def test_the_hostile_corpus_end_to_end(
    workers: int, tmp_path: Path, dunning: Dunning, watch: Watch, canary: Canary,
    listener: socket.socket, caplog: pytest.LogCaptureFixture,
) -> None:
    """With ``workers=1`` every letter is rendered in this process, where the audit hooks see
    every open; with worker processes the canary FIFO and the listener still see any read or
    connection, whichever process makes it."""
    corpus = _corpus(canary, listener.getsockname()[1])
    inputs = tmp_path / "in"
    inputs.mkdir()
    export = inputs / "hostile.csv"
    export.write_bytes(_csv_bytes([row.values for row in corpus]))
    yaml_export = inputs / "hostile.yaml"
    yaml_export.write_text(
        "records:\n"
        "  - account_id: HY-1\n    name: !!python/object/apply:os.system ['id']\n"
        + "".join(f"    {k}: {json.dumps(v, ensure_ascii=False)}\n" if i else
                  f"  - {k}: {json.dumps(v, ensure_ascii=False)}\n"
                  for i, (k, v) in enumerate(_sample("MT-000005", account_id="HY-2",
                                                     name="<b>{{ 7*7 }}</b>").items())
                  if v != "")
        + "  - " + json.dumps(_sample("MT-000005", account_id="HY-3", name="\ud800x")) + "\n"
        + "  - " + json.dumps(_sample("MT-000005", account_id="HY-4"))[:-1]
        + ', "fees": "1.00"}\n', "utf-8")
    out = tmp_path / "out"
    caplog.set_level(logging.DEBUG)
    watch.events.clear()
    summary = run_batch([export, yaml_export], as_of=SAMPLES_AS_OF, out_dir=out,
                        dunning=dunning, workers=workers)
    assert_confined(watch, ROOT / "templates", ROOT / "locales", ROOT / "config", inputs, out)

    # every row exactly once, in input order, with the expected outcome
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == summary.rows == len(corpus) + 4
    assert len({entry["source"] for entry in manifest}) == len(manifest)
    for row, entry in zip(corpus, manifest, strict=False):
        assert entry["source"].startswith(f"{export}:"), (row.key, entry)
        assert entry["outcome"] == row.outcome, (row.key, entry)
        if row.outcome == "rejected":
            assert entry["reason"].startswith(row.reason), (row.key, entry["reason"])
            continue
        assert entry["account_id"] == row.values["account_id"]
        assert Path(entry["path"]).name == f"{safe_name(row.values['account_id'])}.pdf"
        text = squash(pdf_text(out / entry["path"]))
        for shown in row.shown:
            assert squash(shown) in text, (row.key, shown)
        assert "49" not in squash(row.values.get("name", "")) or "{{7*7}}" in text
    tagged, yaml_letter, surrogate, repeated = manifest[-4:]
    assert tagged["outcome"] == "rejected"
    assert "could not determine a constructor" in tagged["reason"]
    assert yaml_letter["outcome"] == "rendered"
    assert (surrogate["outcome"], surrogate["account_id"]) == ("rejected", "HY-3")
    assert surrogate["reason"].startswith("name: contains a lone surrogate U+D800")
    assert (repeated["outcome"], repeated["account_id"]) == ("rejected", "HY-4")
    assert repeated["reason"] == ("fees: is given more than once in the record (expected "
                                  "each field at most once)")
    assert squash("<b>{{ 7*7 }}</b>") in squash(pdf_text(out / yaml_letter["path"]))

    # nothing from outside came in
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert canary.secret.encode() not in everything

    # files: safe names, restrictive modes, no temp file left
    files = sorted(p for p in out.rglob("*"))
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o750 if path.is_dir() else 0o640), (path, oct(mode))
        assert not path.name.endswith(".tmp")
        assert _is_safe_file_name(path.name), path
    assert stat.S_IMODE(out.stat().st_mode) == 0o750

    # no name, ID number or phone in the logs, the manifest, the summary, file names or errors
    errors = [str(row.error) for row in read_records([export, yaml_export], dunning.record_rules())
              if isinstance(row, Rejection)]
    places = {
        "logs": caplog.text,
        "manifest": (out / "manifest.jsonl").read_text("utf-8"),
        "summary": (out / "summary.json").read_text("utf-8"),
        "file names": "\n".join(str(p.relative_to(out)) for p in files),
        "errors": "\n".join(errors),
    }
    assert "H-012" in places["logs"], "rejections are logged, by account id"
    for row in corpus:
        for value in _personal(row.values):
            for place, text in places.items():
                assert value not in text, (row.key, place)


def test_records_and_rejections_print_no_personal_data(tmp_path: Path, dunning: Dunning) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(_csv_bytes([_sample(account_id="A-1"),
                                 _sample(account_id="A-2", postal_code="<bad>")]))
    record, rejection = _rows(dunning, path)
    assert isinstance(record, Record)
    assert isinstance(rejection, Rejection)
    shown = f"{record!r} {record} {rejection!r} {rejection} {rejection.error!r}"
    assert "A-1" in shown
    for value in [*_personal(_sample()), _sample()["address"].splitlines()[0]]:
        assert value not in shown


def _is_safe_file_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._~-]*", name)) and not name.endswith(".")


def test_pdf_metadata_carries_no_personal_data(sample_run: tuple[Any, Path]) -> None:
    from pypdf import PdfReader

    _, out = sample_run
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    rows = {row["account_id"]: row for path in SAMPLE_FILES for row in raw_rows(path)}
    checked = 0
    for entry in manifest:
        if entry["outcome"] != "rendered":
            continue
        reader = PdfReader(out / entry["path"])
        info = reader.metadata or {}
        fields = {key: str(info.get(key, "")) for key in
                  ("/Title", "/Author", "/Subject", "/Keywords", "/Creator", "/Producer")}
        assert fields["/Title"], fields
        assert fields["/Author"], fields
        xmp = reader.xmp_metadata  # archive letters (PDF/A) carry XMP: checked likewise
        text = " ".join(fields.values()) + " " + (
            xmp.stream.get_data().decode("utf-8") if xmp is not None else "") + " " + json.dumps(
            [str(item) for item in reader.outline], ensure_ascii=False)
        for value in _personal(rows[entry["account_id"]]):
            assert value not in text, (entry["account_id"], value)
        checked += 1
    assert checked > 10
