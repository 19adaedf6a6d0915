"""The HTML report in a real headless Chromium: it loads cleanly, draws, sorts and prints on A4 landscape.

Chromium is required, never skipped: ``.ci/run`` installs Debian's package when it is missing.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from mmsequence.board.report import write_report

from .batch import example_board
from .chromium import Chromium, find_chromium

A4_LANDSCAPE_POINTS = (842, 595)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The example board's report, open in Chromium at a laptop's width."""
    binary = find_chromium()
    if binary is None:
        pytest.fail("Chromium is required for the report test and was not found: apt-get install chromium "
                    "(.ci/run installs it)", pytrace=False)
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
    pdf = browser.pdf()
    boxes = [tuple(round(float(n)) for n in box.split()[2:]) for box in re.findall(rb"/MediaBox \[([^\]]*)\]", pdf)]
    assert len(boxes) > len(board.patients)  # the overview, then each patient from a new page
    assert set(boxes) == {A4_LANDSCAPE_POINTS}
