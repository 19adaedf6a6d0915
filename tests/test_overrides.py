"""Individual flexibility: a clinician sets a finding aside with a coded reason."""

import datetime

import pytest

from mmsequence import InputError, Override, evaluate

from .builders import document, line

TEC = line("teclistamab", "2025-01-01", "2025-12-15")


def test_override_keeps_the_finding_marked_and_recomputes_the_verdict():
    doc = document(TEC, as_of="2026-01-10", candidates=["talquetamab", "elranatamab"])
    before = evaluate(doc).candidate("talquetamab")
    assert (before.verdict, before.earliest_date) == ("wait", datetime.date(2026, 6, 15))
    after = evaluate(doc, overrides=[Override("review.interval", "talquetamab", "rapid-progression")])
    talq = after.candidate("talquetamab")
    assert (talq.verdict, talq.earliest_date) == ("acceptable", None)
    (finding,) = [f for f in talq.findings if f.rule == "review.interval"]
    assert finding.overridden == {"reason": "rapid-progression"}
    assert finding.to_dict()["overridden"] == {"reason": "rapid-progression"}
    assert after.candidate("elranatamab").verdict == "wait"


def test_override_in_the_document_with_a_note():
    doc = document(TEC, as_of="2026-01-10", overrides=[
        {"rule": "review.interval", "candidate": "Talvey", "reason": "other", "note": "tumour board 2026-01-09"}])
    doc["candidates"] = ["Talvey"]
    (finding,) = evaluate(doc).candidate("Talvey").findings
    assert finding.overridden == {"reason": "other", "note": "tumour board 2026-01-09"}


def test_overriding_a_rule_that_did_not_fire_is_an_error():
    with pytest.raises(InputError) as caught:
        evaluate(document(), overrides=[Override("review.interval", "talquetamab", "no-alternative")])
    assert caught.value.problems == ("overrides[0]: rule 'review.interval' did not fire for 'talquetamab'",)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"rule": "review.nope", "candidate": "talquetamab", "reason": "other", "note": "x"}, "overrides[0].rule: 'review.nope' is not a rule id"),
        ({"rule": "safety.unknown-agent", "candidate": "talquetamab", "reason": "no-alternative"}, "is a safety rule and cannot be overridden"),
        ({"rule": "review.interval", "candidate": "nivolumab", "reason": "no-alternative"}, "overrides[0].candidate: 'nivolumab' is not a candidate"),
        ({"rule": "review.interval", "candidate": "talquetamab", "reason": "because"}, "overrides[0].reason: 'because' is not one of"),
        ({"rule": "review.interval", "candidate": "talquetamab", "reason": "other"}, "overrides[0].note: is required when reason is 'other'"),
    ],
)
def test_bad_overrides(override, message):
    with pytest.raises(InputError) as caught:
        evaluate(document(TEC, as_of="2026-01-10", overrides=[override]))
    assert any(message in p for p in caught.value.problems), caught.value.problems
