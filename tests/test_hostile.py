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

import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import dunning
from dunning.errors import RenderError, TemplateError
from dunning.letter import Dunning
from dunning.records import Record, read_records
from dunning.settings import Settings

from .helpers import ROOT, SAMPLE_FILES, SAMPLES_AS_OF

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
