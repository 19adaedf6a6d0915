"""`mmsequence validate`: invariants on generated histories, and a minimal counterexample as a vignette."""

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from mmsequence import evaluate
from mmsequence.cli import main
from mmsequence.testing import invariants, validation


def validate(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["validate", *args])
    return code, out.getvalue(), err.getvalue()


def nothing_waits(document, assessment):
    """A false property, planted to make the command find a counterexample."""
    return [f"{c.query}: waits until {c.earliest_date}" for c in assessment.candidates if c.verdict == "wait"]


def test_every_invariant_holds_on_a_short_run():
    code, out, err = validate("--examples", "40", "--seed", "5")
    assert (code, out) == (0, "")
    assert err.splitlines()[-1] == "mmsequence validate: 40 histories, 15 invariants, seed 5, policy default: no violation"


def test_a_violation_prints_the_minimal_counterexample_as_a_vignette(monkeypatch):
    monkeypatch.setattr(validation, "check", lambda d, p: invariants.check(d, p, invariants=(nothing_waits,)))
    code, out, err = validate("--examples", "500", "--seed", "3")
    assert code == 1 and "1 violation(s)" in err
    vignette = json.loads(out)
    assert vignette["comment"].startswith("Counterexample found by mmsequence validate (seed 3, policy default): nothing_waits:")
    assert len(vignette["lines"]) == 1 and any(c.verdict == "wait" for c in evaluate(vignette).candidates)
    assert validate("--examples", "500", "--seed", "3")[1] == out  # the same seed, the same vignette


def test_a_site_policy_is_used_and_a_bad_one_rejected(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text("interval: {months: 9, effect: caution}\n", encoding="utf-8")
    code, _, err = validate("--examples", "20", "--seed", "1", "--policy", str(site))
    assert code == 0 and f"policy {site}: no violation" in err
    site.write_text("interval: {months: 0}\n", encoding="utf-8")
    code, out, err = validate("--examples", "20", "--policy", str(site))
    assert (code, out) == (2, "") and err.startswith(f"mmsequence: {site}: interval.months: 0")


def test_without_hypothesis_the_command_says_what_to_install():
    script = ("import sys; sys.modules['hypothesis'] = None\n"
              "from mmsequence.cli import main\nsys.exit(main(['validate', '--examples', '5']))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=str(Path(__file__).parents[1]))
    assert (done.returncode, done.stderr) == (2, "mmsequence: validate needs the 'testing' extra (hypothesis is missing):"
                                             " in the mmsequence checkout, pip install '.[testing]'\n")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_is_quiet_outside_a_terminal():
    stream = io.StringIO()
    bar = validation.ProgressBar(200, stream)
    for n in range(1, 201):
        bar(n, n, False)
    bar.close()
    assert stream.getvalue() == ""


def test_the_progress_bar_is_tqdm_on_a_terminal_and_ends_on_the_last_count():
    stream = _Terminal()
    bar = validation.ProgressBar(200, stream)
    for n in range(1, 201):
        bar(n, n, False)
    bar(200, 260, True)
    bar.close()
    frames = [f for f in stream.getvalue().split("\r") if f.strip()]
    assert frames[0].startswith("histories:   0%") and "0/200" in frames[0]
    assert frames[-1].startswith("shrinking a counterexample (260 tried): 100%") and "200/200" in frames[-1]
    assert frames[-1].endswith("\n") and all("\n" not in frame for frame in frames[:-1])
