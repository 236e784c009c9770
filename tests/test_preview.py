"""The live preview: in a real browser (Playwright driving Debian's Chromium) against
``dunning preview`` started on a temporary copy of the project; and the workspace behind it.

The browser tests edit files of the copy while the page is open and wait for the page to
follow, as an author would see it.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dunning.letter import Dunning
from dunning.preview.workspace import WATERMARK, Selection, Workspace, watermarked
from dunning.settings import Settings

from .helpers import ROOT, pdf_text, squash

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
WAIT_MS = 30_000  # a render takes about a second; generous for a loaded CI machine


def copy_project(target: Path) -> Path:
    """templates/, config/, locales/ and data/samples/ of the project, copied to ``target``."""
    for folder in ("templates", "config", "locales", "data/samples"):
        shutil.copytree(ROOT / folder, target / folder)
    return target


# --------------------------------------------------------------------------- workspace


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "home")


def test_watermark_only_in_the_preview(home: Path, dunning: Dunning) -> None:
    workspace = Workspace(Settings.at(home))
    result = workspace.render(Selection(stage="formal", sample="MT-000004"))
    assert result.problem is None, result.problem
    assert result.pages
    assert all(png.startswith(b"\x89PNG") for png in result.pages)
    assert "DRAFT" in squash("".join(result.page_text))  # pdftotext -raw keeps it whole
    # the batch's letter for the same plan has no watermark, in its HTML or its PDF
    record = workspace.samples()[0][0]
    plan = dunning.plan_as(record, "formal")
    markup = dunning.html(plan)
    assert "dunning-preview-watermark" not in markup
    batch_pdf = dunning.render(plan).pdf.data
    assert "DRAFT" not in squash(pdf_text(batch_pdf))
    assert "DRAFT" not in squash(subprocess.run(
        ["pdftotext", "-raw", "-", "-"], input=batch_pdf, capture_output=True, check=True,
    ).stdout.decode())
    assert watermarked(markup).count(WATERMARK) == 1


def test_forced_stage_locale_and_brand(home: Path) -> None:
    workspace = Workspace(Settings.at(home))
    dunning = workspace.dunning()
    other = dunning.brands.keys()[-1]
    # MT-000001 is a reminder in the samples; shown as a final letter of another brand
    result = workspace.render(Selection(stage="final", sample="MT-000001", brand=other))
    assert result.problem is None, result.problem
    assert result.meta["stage"] == "final"
    assert result.meta["brand"] == other
    assert result.meta["dpd"] >= dunning.policy.for_brand(other).stages["final"].min_dpd
    text = squash("".join(result.page_text))
    assert squash(dunning.brands[other].hotline) in text


def test_suppressed_record_is_previewed_with_a_note(home: Path) -> None:
    result = Workspace(Settings.at(home)).render(Selection(stage="formal", sample="MT-000013"))
    assert result.problem is None, result.problem
    assert "disputed" in result.meta["batch"]


def test_template_error_names_file_line_and_excerpt(home: Path) -> None:
    partial = home / "templates" / "letter" / "partials" / "contacts.html"
    partial.write_text("<section>\n<p>fine</p>\n<p>{{ borrower.nickname }}</p>\n</section>\n")
    result = Workspace(Settings.at(home)).render(Selection(stage="formal"))
    problem = result.problem
    assert problem is not None
    assert (problem.kind, problem.file, problem.line) == (
        "undefined", "letter/partials/contacts.html", 3)
    assert "nickname" in problem.message
    assert "Traceback" not in problem.message
    assert (3, "<p>{{ borrower.nickname }}</p>") in problem.excerpt


def test_broken_config_is_shown_with_its_file(home: Path) -> None:
    brands = home / "config" / "brands.yaml"
    brands.write_text(brands.read_text("utf-8").replace("hotline:", "hotlne:", 1), "utf-8")
    workspace = Workspace(Settings.at(home))
    options = workspace.options()
    assert options["problem"]["file"] == "config/brands.yaml"
    assert "hotlne" in options["problem"]["message"]
    assert workspace.render(Selection()).problem is not None


def test_reload_picks_up_catalog_changes(home: Path) -> None:
    from babel.messages.pofile import read_po, write_po

    workspace = Workspace(Settings.at(home))
    before = workspace.render(Selection(stage="formal", sample="MT-000004", locale="zh_CN"))
    assert before.problem is None, before.problem
    po = home / "locales" / "zh_CN" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalog = read_po(handle, locale="zh_CN")
    catalog["Overdue status"].string = "逾期情况（已改）"
    time.sleep(0.01)  # the .po must be newer than the .mo
    with po.open("wb") as handle:
        write_po(handle, catalog)
    workspace.reload()
    after = workspace.render(Selection(stage="formal", sample="MT-000004", locale="zh_CN"))
    assert "逾期情况（已改）" in squash("".join(after.page_text))
    assert "逾期情况（已改）" not in squash("".join(before.page_text))


def test_an_english_preview_says_which_locales_lost_a_translation(home: Path) -> None:
    """Observation 7: rewording an English sentence breaks every Chinese letter; the en_GB
    preview says so, naming the locales and the template line, and the zh_CN one too."""
    partial = home / "templates" / "letter" / "partials" / "contacts.html"
    text = partial.read_text("utf-8")
    partial.write_text(text.replace('_("Email")', '_("E-mail address")'), "utf-8")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if '_("Email")' in t)
    workspace = Workspace(Settings.at(home))
    result = workspace.render(Selection(stage="formal", sample="MT-000004", locale="en_GB"))
    assert result.problem is None, result.problem
    lost = [f for f in result.findings if f.kind == "translation"]
    assert [(f.file, f.line) for f in lost] == [("letter/partials/contacts.html", line)]
    assert "no translation in zh_CN, zh_TW, zh_HK" in lost[0].message
    chinese = workspace.render(Selection(stage="formal", sample="MT-000004", locale="zh_CN"))
    assert chinese.problem is not None
    assert (chinese.problem.file, chinese.problem.line) == ("letter/partials/contacts.html", line)
    assert "MissingTranslationError" not in chinese.problem.message
    assert "dunning catalogs" in chinese.problem.message


def test_a_yaml_mistake_is_explained_in_plain_words(home: Path) -> None:
    """Observation 6: not "expected <block end>, but found '<block mapping start>'"."""
    brands = home / "config" / "brands.yaml"
    text = brands.read_text("utf-8")
    brands.write_text(text.replace("    hotline: 400-820-1234", "     hotline: 400-820-1234", 1),
                      "utf-8")
    line = next(n for n, t in enumerate(brands.read_text("utf-8").splitlines(), 1)
                if t == "     hotline: 400-820-1234")
    problem = Workspace(Settings.at(home)).render(Selection()).problem
    assert problem is not None
    assert (problem.file, problem.line) == ("config/brands.yaml", line)
    assert "block" not in problem.message
    assert "indented differently" in problem.message
    assert problem.advice
    assert "spaces" in problem.advice
    assert (line, "     hotline: 400-820-1234") in problem.excerpt


def test_every_missing_field_of_a_new_brand_at_once(home: Path) -> None:
    """Observation 8: a new brand's missing fields are listed together, in plain words."""
    brands = home / "config" / "brands.yaml"
    text = brands.read_text("utf-8")
    brands.write_text(text.replace("brands:\n", "brands:\n  newco:\n    legal_name: New Co\n"
                                   "    hotlne: 400-000-0000\n", 1), "utf-8")
    options = Workspace(Settings.at(home)).options()
    messages = [p["message"] for p in options["problems"]]
    for field_name in ("short_name", "hotline", "email", "website", "logo"):
        assert f"brand 'newco' has no '{field_name}', which every brand needs" in messages
    assert "brand 'newco': 'hotlne' is not a brand field; did you mean 'hotline'?" in messages
    assert not any("Field required" in m for m in messages)
    assert all(p["file"] == "config/brands.yaml" and p["line"] for p in options["problems"])
    assert options["problem"]["message"] in messages


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` (Debian package chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PreviewServer:
    def __init__(self, home: Path, log: Path) -> None:
        self.home = home
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dunning.cli", "--home", str(home), "preview", "--port", "0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if not found:
            self.stop()
            raise AssertionError(f"preview did not start: {line!r} {log.read_text()}")
        self.url = found.group(0)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self.log.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PreviewServer]:
    running = PreviewServer(copy_project(tmp_path / "home"), tmp_path / "server.log")
    yield running
    running.stop()


@pytest.fixture
def page(browser: Any, server: PreviewServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(server.url + "?stage=formal&sample=MT-000004")
    wait_ready(page)
    yield page
    context.close()


def wait_ready(page: Any, after: int = -1) -> None:
    """Wait until the page shows a letter or a problem rendered after generation ``after``."""
    page.wait_for_function(
        "(after) => ['ready', 'problem'].includes(document.body.dataset.state)"
        " && Number(document.body.dataset.generation) > after", arg=after, timeout=WAIT_MS)


def wait_shown(page: Any, choice: str) -> None:
    """Wait until the page shows the letter for ``choice`` (a locale or brand)."""
    page.wait_for_function(
        "(choice) => document.body.dataset.state === 'ready'"
        " && document.querySelector('#meta').textContent.includes(`· ${choice} ·`)",
        arg=choice, timeout=WAIT_MS)


def letter_text(page: Any) -> str:
    return squash(" ".join(page.locator("#pages img").evaluate_all(
        "(images) => images.map((img) => img.alt)")))


def generation(page: Any) -> int:
    return int(page.evaluate("document.body.dataset.generation"))


def test_page_loads_with_the_letter(page: Any, tmp_path: Path) -> None:
    assert page.locator("#pages img").count() >= 1
    assert page.locator("#pages img").first.evaluate("(img) => img.naturalWidth") > 500
    text = letter_text(page)
    assert "DRAFT" in text
    assert "MT-LN-" in text  # the letter reference
    assert page.locator("#live").get_attribute("class") == "live on"
    assert "No findings" in page.locator("#findings").inner_text()
    page.screenshot(path=str(tmp_path / "preview.png"))


def test_switching_locale_changes_the_letter(page: Any) -> None:
    before = letter_text(page)
    locales = page.locator("#locale option").evaluate_all("(os) => os.map((o) => o.value)")
    current = page.locator("#locale").input_value()
    others = [loc for loc in locales if loc != current]
    if others:
        choice = next((loc for loc in others if loc.startswith("en")), others[0])
        page.select_option("#locale", choice)
        wait_shown(page, choice)
        if choice.startswith("en"):
            assert "Overdue" in letter_text(page)
    else:  # only one locale configured: the brand is the next thing that changes the text
        brands = page.locator("#brand option").evaluate_all("(os) => os.map((o) => o.value)")
        choice = next(b for b in brands if b != page.locator("#brand").input_value())
        page.select_option("#brand", choice)
        wait_shown(page, choice)
    assert letter_text(page) != before
    assert f"{choice}" in page.url


def test_editing_a_template_updates_the_page(page: Any, server: PreviewServer) -> None:
    partial = server.home / "templates" / "letter" / "partials" / "signature.html"
    text = partial.read_text("utf-8")
    start = generation(page)
    saved = time.monotonic()
    partial.write_text(text.replace("</section>", "<p>LIVE EDIT 4711</p>\n</section>"), "utf-8")
    page.wait_for_function("document.querySelector('#pages img') && [...document.querySelectorAll"
                           "('#pages img')].some((img) => img.alt.includes('LIVE EDIT 4711'))",
                           timeout=WAIT_MS)
    assert generation(page) > start
    assert time.monotonic() - saved < WAIT_MS / 1000


def test_broken_template_shows_file_and_line(page: Any, server: PreviewServer) -> None:
    partial = server.home / "templates" / "letter" / "partials" / "contacts.html"
    start = generation(page)
    partial.write_text("<section>\n<p>ok</p>\n<p>{{ brand.hotline }</p>\n</section>\n", "utf-8")
    wait_ready(page, after=start)
    page.wait_for_selector("#problem:not([hidden])", timeout=WAIT_MS)
    assert page.locator("#problem-where").inner_text() == "letter/partials/contacts.html, line 3"
    assert "unexpected '}'" in page.locator("#problem-message").inner_text()
    assert "{{ brand.hotline }" in page.locator("#problem-excerpt .hit").inner_text()
    assert "Traceback" not in page.locator("body").inner_text()
    # fixing it brings the letter back
    fixed = generation(page)
    shutil.copy(ROOT / "templates/letter/partials/contacts.html", partial)
    wait_ready(page, after=fixed)
    page.wait_for_selector("#problem[hidden]", state="attached", timeout=WAIT_MS)
    assert page.locator("#pages img").count() >= 1


def test_config_change_shows_findings(page: Any, server: PreviewServer) -> None:
    brands = server.home / "config" / "brands.yaml"
    brand = page.locator("#brand").input_value()
    text = brands.read_text("utf-8")
    block = text.index(f"\n  {brand}:")
    hours = re.compile(r'open: "\d\d:\d\d"')
    start = generation(page)
    brands.write_text(text[:block] + hours.sub('open: "06:30"', text[block:], count=1), "utf-8")
    wait_ready(page, after=start)
    page.wait_for_function("document.querySelector('#findings').textContent.includes('06:30')",
                           timeout=WAIT_MS)
    finding = page.locator("#findings li", has_text="06:30").first.inner_text()
    assert "config/brands.yaml" in finding
    assert "08:00" in finding


def test_only_local_hosts_are_answered(server: PreviewServer) -> None:
    import urllib.error
    import urllib.request

    with urllib.request.urlopen(server.url + "api/options", timeout=30) as response:
        assert response.status == 200
    request = urllib.request.Request(server.url + "api/options",
                                     headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    info.value.close()
    assert info.value.code == 400


def test_excerpt_shows_every_line_around_and_wraps_long_ones(
        page: Any, server: PreviewServer) -> None:
    """Observation 3: the line after the error line is shown, and a long line is wrapped,
    not cut off."""
    partial = server.home / "templates" / "letter" / "partials" / "contacts.html"
    long_line = "<p>" + "很长的一行文字，" * 40 + "</p>"
    start = generation(page)
    partial.write_text(f"<section>\n<p>before</p>\n<p>{{{{ brand.hotline }}</p>\n"
                       f"<p>the line after</p>\n{long_line}\n</section>\n", "utf-8")
    wait_ready(page, after=start)
    page.wait_for_selector("#problem:not([hidden])", timeout=WAIT_MS)
    lines = page.locator("#problem-excerpt .line")
    texts = lines.all_inner_texts()
    assert any("the line after" in t for t in texts), texts
    boxes = [lines.nth(i).bounding_box() for i in range(lines.count())]
    for above, below in itertools.pairwise(boxes):
        assert above is not None
        assert below is not None
        assert below["y"] >= above["y"] + above["height"] - 1  # nothing overlaps, none hidden
    excerpt = page.locator("#problem-excerpt")
    assert excerpt.evaluate("(e) => e.scrollWidth <= e.clientWidth + 1")  # wrapped, not cut
    assert squash(long_line) in squash(" ".join(texts))


def test_the_selection_survives_a_config_error_and_its_fix(
        page: Any, server: PreviewServer) -> None:
    """Observation 4: fixing a YAML error brings back the brand and sample the author chose."""
    brands = [o for o in page.locator("#brand option").evaluate_all(
        "(os) => os.map((o) => o.value)") if o != page.locator("#brand").input_value()]
    page.select_option("#brand", brands[-1])
    wait_shown(page, brands[-1])
    samples = page.locator("#sample option").evaluate_all("(os) => os.map((o) => o.value)")
    page.select_option("#sample", samples[2])
    page.wait_for_function("(s) => document.body.dataset.state === 'ready' && "
                           "document.querySelector('#meta').textContent.startsWith(s)",
                           arg=samples[2], timeout=WAIT_MS)
    chosen = {"brand": brands[-1], "sample": samples[2]}
    config = server.home / "config" / "brands.yaml"
    good = config.read_text("utf-8")
    start = generation(page)
    config.write_text(good.replace("brands:\n", "brands:\n bad: [\n", 1), "utf-8")
    wait_ready(page, after=start)
    page.wait_for_selector("#problem:not([hidden])", timeout=WAIT_MS)
    broken = generation(page)
    config.write_text(good, "utf-8")
    wait_ready(page, after=broken)
    page.wait_for_selector("#problem[hidden]", state="attached", timeout=WAIT_MS)
    assert page.locator("#brand").input_value() == chosen["brand"]
    assert page.locator("#sample").input_value() == chosen["sample"]
    assert f"brand={chosen['brand']}" in page.url


def test_a_stylesheet_problem_names_the_file_and_line_once(
        page: Any, server: PreviewServer) -> None:
    """Observation 5: a declaration without a value and an unclosed brace, each reported once
    with the stylesheet and its line."""
    brand = page.locator("#brand").input_value()
    sheet = server.home / "templates" / "assets" / "brands" / brand / "brand.css"
    lines = sheet.read_text("utf-8").splitlines()
    lines.insert(2, ".letterhead { color: ; }")
    lines.append(".signature { margin-top: 4mm;")
    start = generation(page)
    sheet.write_text("\n".join(lines) + "\n", "utf-8")
    wait_ready(page, after=start)
    page.wait_for_selector("#problem:not([hidden])", timeout=WAIT_MS)
    where = page.locator("#problem-where").inner_text()
    assert where == f"templates/assets/brands/{brand}/brand.css, line 3"
    message = page.locator("#problem-message").inner_text()
    assert "color" in message
    assert message.count("color") == 1  # once, not repeated
    assert "|" not in message
    findings = page.locator("#findings").inner_text()
    assert f"templates/assets/brands/{brand}/brand.css, line {len(lines)}" in findings
    assert "never closed" in findings


def test_a_missing_record_file_says_so_and_no_request_fails(
        browser: Any, server: PreviewServer) -> None:
    """Observation 10: a record file that does not exist is named as such; the page asks for
    nothing the server does not have (a favicon)."""
    context = browser.new_context()
    page = context.new_page()
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(server.url + "?stage=formal&source=data/nope.csv")
    wait_ready(page)
    page.wait_for_selector("#problem:not([hidden])", timeout=WAIT_MS)
    message = page.locator("#problem-message").inner_text()
    assert "no sample record ''" not in message
    assert "data/nope.csv" in message
    assert "does not exist" in message
    page.wait_for_timeout(500)
    assert failed == []
    assert page.evaluate("fetch('/favicon.ico').then((r) => r.status)") == 200
    context.close()
