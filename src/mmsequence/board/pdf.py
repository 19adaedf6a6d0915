"""The board report as PDF: the HTML report printed by headless Chromium, as a browser's print dialog would.

No PDF library draws a second layout: the page size, breaks, running header and page numbers
are the HTML report's own print CSS (``@page``), so the PDF and a printed HTML report are the
same. Chromium is found as ``$MMSEQUENCE_CHROMIUM``, else ``chromium``, ``chromium-browser`` or
``google-chrome`` on PATH (Debian: ``apt-get install chromium``). It gets a fresh profile, no
network use beyond the local file and a time limit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .._atomic import write_atomically
from ..errors import MmsequenceError

_NAMES = ("chromium", "chromium-browser", "google-chrome")
#: Flags that keep a headless Chromium quiet and off the network.
_FLAGS = ("--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-pdf-header-footer")
TIMEOUT = 120.0


def find_chromium() -> str | None:
    """The Chromium to print with, or None."""
    chosen = os.environ.get("MMSEQUENCE_CHROMIUM")
    if chosen:
        return chosen
    return next((found for name in _NAMES if (found := shutil.which(name))), None)


def print_pdf(html: str, out: Path) -> None:
    """Print the self-contained HTML report ``html`` to the PDF file ``out``."""
    binary = find_chromium()
    if binary is None:
        raise MmsequenceError("--format pdf needs Chromium (Debian: apt-get install chromium; "
                              "or set MMSEQUENCE_CHROMIUM to a Chromium or Chrome binary)")
    with tempfile.TemporaryDirectory(prefix="mmsequence-pdf-") as work:
        page = Path(work) / "board.html"
        page.write_text(html, encoding="utf-8")
        target = Path(work) / "board.pdf"
        # Chromium's sandbox cannot start as root (containers, CI); it is only needed for the web.
        sandbox = ("--no-sandbox",) if hasattr(os, "geteuid") and os.geteuid() == 0 else ()
        command = [binary, *_FLAGS, *sandbox, f"--user-data-dir={Path(work) / 'profile'}",
                   f"--print-to-pdf={target}", page.as_uri()]
        try:
            subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise MmsequenceError(f"{out}: Chromium could not print the report ({error})") from None
        if not target.exists() or target.stat().st_size == 0:
            raise MmsequenceError(f"{out}: Chromium ({binary}) wrote no PDF")
        write_atomically(out, target.read_bytes())
