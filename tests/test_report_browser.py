"""The HTML report in a real headless Chromium: it loads cleanly, draws, sorts, prints one page per
patient on A4 and US Letter landscape with no text under 8 pt, draws no text over another, and reads
in Chinese. The printed layout is measured with the fonts .ci/run installs (WenQuanYi Micro Hei,
DejaVu Sans Condensed).

Chromium is required, never skipped: ``.ci/run`` installs Debian's package when it is missing.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from mmsequence.board import build_board
from mmsequence.board.report import write_report
from mmsequence.i18n import format_date
from mmsequence.policy import load_policy

from .batch import BOARD_DAY, EXAMPLES, example_board
from .chromium import Chromium, find_chromium

pytestmark = pytest.mark.browser

A4_LANDSCAPE_POINTS = (842, 595)
LETTER_LANDSCAPE_POINTS = (792, 612)
_CJK = re.compile(r"[\u4e00-\u9fff]")


def page_sizes(pdf: bytes) -> list[tuple[int, ...]]:
    """The size of each page of a PDF, in points."""
    return [tuple(round(float(n)) for n in box.split()[2:]) for box in re.findall(rb"/MediaBox \[([^\]]*)\]", pdf)]


def chromium_binary() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.fail("Chromium is required for the report test and was not found: apt-get install chromium "
                    "(.ci/run installs it); or deselect the browser tests: -m 'not browser'", pytrace=False)
    return binary


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The example board's report, open in Chromium at a laptop's width."""
    binary = chromium_binary()
    folder = tmp_path_factory.mktemp("report")
    board = example_board()
    (report,) = write_report(board, folder / "board.html", "html")
    with tempfile.TemporaryDirectory() as profile, Chromium(binary, Path(profile)) as browser:
        browser.open(report.as_uri(), 1280, 900)
        yield browser, report, board


def test_loads_without_console_errors_or_network(page):
    browser, report, _ = page
    assert browser.console_errors() == []
    assert browser.requested_urls() == [report.as_uri()]


def test_screenshot_is_not_blank(page, tmp_path):
    browser, _, board = page
    shot = tmp_path / "board.png"
    shot.write_bytes(browser.screenshot())
    image = Image.open(shot).convert("RGB")
    width, height = image.size
    assert width == 1280 and height > 900 * len(board.patients) / 2  # the whole page: every patient's section
    colours = {colour: count for count, colour in image.getcolors(width * height)}
    background = colours.get((255, 255, 255), 0) + colours.get((241, 245, 249), 0)  # white cards, page grey
    assert background < 0.9 * width * height
    assert len(colours) > 200  # text, badges, bars in several colours


def test_timelines_are_drawn(page):
    browser, _, board = page
    sizes = browser.evaluate("Array.from(document.querySelectorAll('figure.timeline svg'))"
                             ".map(s => [s.getBoundingClientRect().width, s.getBoundingClientRect().height])")
    assert len(sizes) == len(board.patients)
    assert all(width > 1000 and height > 100 for width, height in sizes)


def test_summary_sorts_by_a_column_and_back(page):
    browser, _, board = page
    order = "Array.from(document.querySelectorAll('#summary tbody tr td:first-child')).map(c => c.textContent.trim())"
    click = "document.querySelectorAll('#summary thead button')[{}].click()"
    assert browser.evaluate(order) == [p.summary.patient_id for p in board.patients]
    browser.evaluate(click.format(2))  # best-ranked option: most favourable verdict first
    by_verdict = browser.evaluate(order)
    assert by_verdict[0] == "TB-102"  # the only 'preferred'
    browser.evaluate(click.format(2))
    assert browser.evaluate(order)[-1] == "TB-102"
    browser.evaluate(click.format(0))
    assert browser.evaluate(order) == [p.summary.patient_id for p in board.patients]
    assert browser.console_errors() == []


def test_prints_on_a4_landscape_pages(page):
    browser, _, board = page
    browser.send("Emulation.setEmulatedMedia", {"media": "print"}, page=True)
    try:
        boxes = page_sizes(browser.pdf())
    finally:
        browser.send("Emulation.setEmulatedMedia", {"media": "screen"}, page=True)
    assert len(boxes) == len(board.patients) + 1  # the overview, then each patient on one page of its own
    assert set(boxes) == {A4_LANDSCAPE_POINTS}


@pytest.mark.parametrize(("paper", "size"), [("a4", A4_LANDSCAPE_POINTS), ("letter", LETTER_LANDSCAPE_POINTS)])
def test_the_pdf_format_prints_one_page_per_patient_plus_the_overview(tmp_path, paper, size):
    chromium_binary()
    board = example_board()
    (pdf,) = write_report(board, tmp_path / "board.pdf", "pdf", paper)
    boxes = page_sizes(pdf.read_bytes())
    assert set(boxes) == {size}
    assert len(boxes) <= len(board.patients) + 1


_DRAWN = """Array.from(document.querySelectorAll('figure.timeline svg')).map(svg => ({
  texts: Array.from(svg.querySelectorAll('text')).filter(t => t.closest('title') === null).map(t => {
    const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.top, r.right, r.bottom]; }),
  markers: Array.from(svg.querySelectorAll('g.tl-marker')).map(g => {
    const r = Array.from(g.children).filter(c => c.tagName !== 'title').pop().getBoundingClientRect();
    return ['marker', r.left, r.top, r.right, r.bottom]; }),
  line: (r => [r.left, r.top, r.right, r.bottom])(svg.querySelector('g.tl-as-of line').getBoundingClientRect()),
}))"""


def _overlap(a, b, tolerance=0.5):
    return a[0] < b[2] - tolerance and b[0] < a[2] - tolerance and a[1] < b[3] - tolerance and b[1] < a[3] - tolerance


def test_no_text_overlaps_another_or_a_marker_or_the_evaluation_date_line(page):
    browser, _, board = page
    drawings = browser.evaluate(_DRAWN)
    assert len(drawings) == len(board.patients)
    collisions = []
    for drawing in drawings:
        items = [(t[0], t[1:]) for t in drawing["texts"]] + [(m[0], m[1:]) for m in drawing["markers"]]
        assert len(drawing["texts"]) > 5
        for i, (a, box_a) in enumerate(items):
            collisions += [(a, b) for b, box_b in items[i + 1:] if _overlap(box_a, box_b)]
            if a != "marker" and not a.startswith("as of") and _overlap(box_a, drawing["line"]):
                collisions.append((a, "the evaluation-date line"))
    assert collisions == []


def test_a_chinese_report_is_drawn_and_its_fixed_words_are_chinese(tmp_path):
    board = build_board([EXAMPLES], BOARD_DAY, load_policy(), language="zh-CN")
    (report,) = write_report(board, tmp_path / "board.html", "html")
    with tempfile.TemporaryDirectory() as profile, Chromium(chromium_binary(), Path(profile)) as browser:
        browser.open(report.as_uri(), 1280, 900)
        shot = tmp_path / "zh.png"
        shot.write_bytes(browser.screenshot())
        words = browser.evaluate("Array.from(document.querySelectorAll('h1, h2, h3, th, .badge, .effect, .chip:not(.mono), "
                                 "figure.timeline text')).map(e => e.textContent.trim())")
        lang = browser.evaluate("document.documentElement.lang")
        messages = browser.evaluate("Array.from(document.querySelectorAll('.findings .message, .reasons li'))"
                                    ".map(e => e.textContent.trim())")
    image = Image.open(shot).convert("RGB")
    width, height = image.size
    colours = {colour: count for count, colour in image.getcolors(width * height)}
    assert colours.get((255, 255, 255), 0) + colours.get((241, 245, 249), 0) < 0.9 * width * height
    assert lang == "zh-CN"
    patient_ids = {p.assessment.patient_id for p in board.patients}
    # every fixed word is Chinese; left as they are: ids, numbers, dates, targets, regimen short names
    untranslated = [w for w in words if w and not _CJK.search(w) and w not in patient_ids
                    and not re.fullmatch(r"[#\d\s·.,:+→≥–-]*|[\d -]*|BCMA|GPRC5D|FcRH5|\d+ · [a-z -]+( \+ [a-z -]+)*", w)]
    assert untranslated == []
    # every rule message and every reason an option is not first, from the rules' own zh-CN text
    assert len(messages) > 40 and [m for m in messages if not _CJK.search(m)] == []


PAPER_MM = {"a4": 297.0, "letter": 279.4}  # landscape page widths
_PRINTED = """(() => {
  const page = Array.from(document.styleSheets).flatMap(s => Array.from(s.cssRules)).find(r => r instanceof CSSPageRule);
  const boxes = Array.from(page.cssRules).map(m => [m.name, m.style.fontSize, m.style.content]);
  const px = v => parseFloat(v) * 0.75;  // CSS px to pt
  const sizes = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const scale = el instanceof SVGElement ? el.getScreenCTM().a : 1;  // a drawing is scaled to its box
    sizes.push([px(getComputedStyle(el).fontSize) * scale, el.textContent.trim().slice(0, 40)]);
  }
  const findings = Array.from(document.querySelectorAll('.findings li')).map(li => {
    const word = document.createRange();
    word.selectNodeContents(li.querySelector('.effect'));
    const w = word.getBoundingClientRect(), m = li.querySelector('.message').getBoundingClientRect();
    return [li.querySelector('.effect').textContent.trim(), w.left, w.top, w.right, w.bottom, m.left, m.top, m.right, m.bottom];
  });
  const spilled = Array.from(document.querySelectorAll('td, th')).filter(c => c.scrollWidth > c.clientWidth + 1)
    .map(c => c.textContent.trim().slice(0, 60));
  return {boxes, sizes, findings, spilled, margin: page.style.marginLeft};
})()"""


@pytest.fixture(scope="module", params=[("en", "a4"), ("en", "letter"), ("zh-CN", "a4"), ("zh-CN", "letter")],
                ids=lambda p: "-".join(p))
def printed(request, tmp_path_factory):
    """The example board printed: measures of its print layout at the page's width, and its PDF."""
    language, paper = request.param
    board = build_board([EXAMPLES], BOARD_DAY, load_policy(), language=language)
    (report,) = write_report(board, tmp_path_factory.mktemp("print") / "board.html", "html", paper)
    with tempfile.TemporaryDirectory() as profile, Chromium(chromium_binary(), Path(profile)) as browser:
        browser.open(report.as_uri(), 1000, 700, media="print")
        margin = browser.evaluate(_PRINTED)["margin"]
        assert margin.endswith("mm")
        width = round((PAPER_MM[paper] - 2 * float(margin[:-2])) / 25.4 * 96)  # the page's text width in CSS px
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": 700, "deviceScaleFactor": 1, "mobile": False}, page=True)
        measures = browser.evaluate(_PRINTED)
        pdf = browser.pdf()
    return board, measures, page_sizes(pdf), paper


def test_printed_text_is_never_under_8_pt(printed, record_property):
    measures = printed[1]
    assert len(measures["sizes"]) > 500
    smallest = min(size for size, _ in measures["sizes"])
    record_property("smallest_font_pt", round(smallest, 2))
    assert smallest >= 8.0 - 1e-3, sorted(measures["sizes"])[:5]
    margin_sizes = {name: size for name, size, _ in measures["boxes"]}
    assert set(margin_sizes) == {"top-left", "top-right", "bottom-left", "bottom-right"}
    assert all(size.endswith("pt") and float(size[:-2]) >= 8 for size in margin_sizes.values())


def test_verdict_words_never_touch_their_message(printed):
    findings = printed[1]["findings"]
    assert len(findings) > 40
    touching = [f[0] for f in findings if f[3] > f[5] - 2 and f[2] < f[8] and f[6] < f[4]]  # 2 px of clear space
    assert touching == []


def test_no_table_cell_spills_into_the_next(printed):
    assert printed[1]["spilled"] == []


def test_one_page_per_patient_after_the_overview(printed, record_property):
    board, _, boxes, paper = printed
    record_property("pages", len(boxes))
    assert len(boxes) == len(board.patients) + 1
    assert set(boxes) == {{"a4": A4_LANDSCAPE_POINTS, "letter": LETTER_LANDSCAPE_POINTS}[paper]}


def test_every_page_footer_dates_the_knowledge(printed):
    board, measures = printed[:2]
    footer = next(content for name, _, content in measures["boxes"] if name == "bottom-left")
    knowledge = board.ruleset.knowledge
    assert knowledge.reviewed is not None
    dates = [format_date(day, board.language) for day in (knowledge.reviewed, knowledge.due)]
    assert all(date in footer for date in dates) and board.ruleset.digest[:19] in footer
