"""The command line: output, exit codes, and no traceback on bad input."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmsequence._version import __version__
from mmsequence.cli import main
from mmsequence.errors import missing_extra

from .builders import document, line

EXAMPLES = Path(__file__).parents[1] / "examples"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_json(capsys):
    code, out, err = run(capsys, "evaluate", str(EXAMPLES / "tb-014.json"))
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert [(c["therapy"], c["verdict"], c["rank"]) for c in result["candidates"]] == [
        ("ciltacabtagene autoleucel", "caution", 1), ("talquetamab", "avoid", 2), ("teclistamab", "avoid", 3)]
    assert result["as_of"] == "2026-01-10"


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_names_the_release_and_the_ruleset_digest(capsys, flag):
    with pytest.raises(SystemExit) as exit:
        main([flag])
    out, err = capsys.readouterr()
    assert (exit.value.code, err) == (0, "")
    _, evaluated, _ = run(capsys, "evaluate", str(EXAMPLES / "tb-014.json"))
    ruleset = json.loads(evaluated)["ruleset"]
    assert out.splitlines() == [f"mmsequence {ruleset['version']}",
                                f"ruleset {ruleset['digest']} (shipped rules, agent catalog and default policy)"]
    assert ruleset["version"] == __version__ and re.fullmatch(r"sha256:[0-9a-f]{64}", ruleset["digest"])


def test_a_missing_extra_is_named_with_an_install_from_the_checkout():
    problem = missing_extra("the board command", "board", "jinja2").problems[0]
    assert problem == ("the board command needs the 'board' extra (jinja2 is missing): "
                       "in the mmsequence checkout, pip install '.[board]'")


def test_same_input_same_bytes():
    command = [sys.executable, "-m", "mmsequence.cli", "evaluate", str(EXAMPLES / "tb-014.json")]
    first, second = (subprocess.run(command, capture_output=True, check=True).stdout for _ in range(2))
    assert first == second


def test_as_of_option_overrides_the_document(capsys):
    _code, out, _ = run(capsys, "evaluate", str(EXAMPLES / "month-end.json"), "--as-of", "2026-02-28")
    assert json.loads(out)["candidates"][0]["verdict"] == "acceptable"


def test_text_format(capsys):
    code, out, _ = run(capsys, "evaluate", str(EXAMPLES / "month-end.json"), "--format", "text")
    assert code == 0
    assert "talquetamab" in out and "wait" in out and "2026-02-28" in out and "review.interval" in out


def test_override_option(capsys, tmp_path):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document(line("teclistamab", "2025-01-01", "2025-12-15"), as_of="2026-01-10")))
    _code, out, _ = run(capsys, "evaluate", str(path), "--override", "review.interval:talquetamab:other:board decision")
    finding = json.loads(out)["candidates"][0]["findings"][0]
    assert finding["overridden"] == {"reason": "other", "note": "board decision"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", str(EXAMPLES / "invalid.json")], "mmsequence: lines[0].end: '2025-13-01' is not a date"),
        (["evaluate", str(EXAMPLES / "tb-014.json"), "--as-of", "2026-13-01"], "as_of: '2026-13-01' is not a date"),
        (["evaluate", "no-such-file.json"], "no-such-file.json: cannot be read"),
        (["evaluate", str(EXAMPLES / "tb-014.json"), "--policy", "no-such-policy.yaml"], "cannot be read"),
        (["evaluate", str(EXAMPLES / "tb-014.json"), "--override", "review.interval"], "is not RULE:CANDIDATE:REASON"),
    ],
)
def test_bad_input_exit_2_nothing_on_stdout(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err


def test_bad_input_in_a_real_process(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff not json")
    done = subprocess.run([sys.executable, "-m", "mmsequence.cli", "evaluate", str(path)], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (2, "")
    assert "is not UTF-8" in done.stderr and "Traceback" not in done.stderr


def test_rules_listing_and_check(capsys):
    code, out, _ = run(capsys, "rules")
    assert code == 0 and "review.interval" in out and "labels.talquetamab-eu" in out
    code, out, _ = run(capsys, "rules", "--check")
    assert code == 0 and "OK" in out


def test_rules_check_fails_on_a_broken_copy(capsys, tmp_path):
    import shutil

    from mmsequence._paths import rules_dir

    shutil.copytree(rules_dir(), tmp_path / "rules")
    broken = tmp_path / "rules" / "review" / "reserve.yaml"
    broken.write_text(broken.read_text().replace("evidence: review", "evidence: hearsay"))
    code, out, err = run(capsys, "rules", "--check", "--rules-dir", str(tmp_path / "rules"))
    assert (code, out) == (1, "")
    assert "review/reserve.yaml: evidence: 'hearsay' is not one of" in err


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('version: "2024 DE", code: L01FX24,', 'code: L01FX24,', "codes[0].version: missing"),
        ("source: \"shared/reference/guidance-notes.md (German ATC index, 2024 edition)\"}", "}", "codes[0].source: missing"),
        ("{system: ATC, version: \"2024 DE\", code: L01FX24", "{version: \"2024 DE\", code: L01FX24", "codes[0].system: missing"),
        ("    role: crs-management\n", "    role: rescue\n", "role: 'rescue' is not one of"),
        ("    contexts: [conditioning]\n", "    contexts: [anti-myeloma]\n", "contexts: names the drug's own role"),
    ],
)
def test_rules_check_fails_on_a_broken_agent_catalog(capsys, tmp_path, old, new, expected):
    import shutil

    from mmsequence._paths import rules_dir

    shutil.copytree(rules_dir(), tmp_path / "rules")
    agents = tmp_path / "rules" / "agents.yaml"
    text = agents.read_text(encoding="utf-8")
    assert old in text
    agents.write_text(text.replace(old, new, 1), encoding="utf-8")
    code, out, err = run(capsys, "rules", "--check", "--rules-dir", str(tmp_path / "rules"))
    assert (code, out) == (1, "")
    assert expected in err
