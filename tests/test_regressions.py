"""Regressions found by the validation kit (invariants, oracle, fuzzing), each as a small vignette."""

import datetime

from mmsequence import Policy, evaluate

from .builders import document, line


def test_a_policy_built_in_code_cannot_switch_the_safety_pack_off():
    # Policy(packs=("review",)) ran no safety rule: an unidentified drug given last month left
    # cilta-cel 'preferred' (invariant 9).
    doc = document(line("ZX-9001", "2026-04-01", "2026-05-01"), car_t_eligible=True, candidates=["cilta-cel"])
    assert Policy(packs=("review",)).packs == ("safety", "review")
    assert evaluate(doc, policy=Policy(packs=("review",))).candidate("cilta-cel").verdict == "indeterminate"


def test_equal_policies_give_equal_digests():
    assert Policy(disabled_rules=("review.reserve", "review.switch-target")).digest == \
        Policy(disabled_rules=("review.switch-target", "review.reserve", "review.reserve")).digest
