"""The engine agrees with the differential oracle (mmsequence.testing.oracle) on every verdict, what
each wait becomes, every not-before date and every rank."""

import datetime
import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from hypothesis import strategies as st

from mmsequence import Policy, evaluate, load_policy
from mmsequence.rulebook import load_rulebook
from mmsequence.testing import oracle
from mmsequence.testing.strategies import patient_histories, policies

from .profiles import SEEDS, run

#: Extended rules the oracle does not implement (added by later packs), switched off for the comparison.
OTHER_EXTENDED = tuple(r.id for r in load_rulebook().rules if r.pack == "extended" and r.id != "extended.antigen-loss")
EXAMPLES = sorted(p for p in (Path(__file__).parents[1] / "examples").glob("*.json") if p.name != "invalid.json")


def comparable(policy: Policy) -> Policy:
    """The policy cut down to what the oracle implements: safety, review and extended.antigen-loss, and
    the ranking criteria but the refractoriness one."""
    packs = tuple(p for p in policy.packs if p in ("safety", "review", "extended"))
    return attrs.evolve(policy, packs=packs,
                        disabled_rules=(*policy.disabled_rules, *OTHER_EXTENDED, "rank.not-refractory-target"))


def engine_verdicts(document, as_of: datetime.date, policy: Policy) -> dict:
    return {c.query: (c.verdict, c.then, c.earliest_date) for c in evaluate(document, as_of=as_of, policy=policy).candidates}


def engine_ranks(document, as_of: datetime.date, policy: Policy) -> dict:
    return {c.query: c.rank for c in evaluate(document, as_of=as_of, policy=policy).candidates}


def _agree(case) -> None:
    document, policy = case
    policy = comparable(policy)
    as_of = datetime.date.fromisoformat(document["as_of"])
    assert engine_verdicts(document, as_of, policy) == oracle.assess(document, as_of, policy)
    assert engine_ranks(document, as_of, policy) == oracle.ranks(document, as_of, policy)


@SEEDS
def test_engine_and_oracle_agree_on_generated_histories(seed_value):
    run(_agree, st.tuples(patient_histories(), st.one_of(st.just(load_policy()), policies())), seed_value)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_engine_and_oracle_agree_on_the_shipped_examples(path):
    document = json.loads(path.read_text(encoding="utf-8"))
    _agree((document, load_policy()))


#: Vignettes 69-78: regimens as candidates and progression dates.
REGIMEN_VIGNETTES = sorted(p for p in (Path(__file__).parents[1] / "examples" / "vignettes").glob("*.json")
                          if 69 <= int(p.name[:2]) <= 78)


@pytest.mark.parametrize("path", REGIMEN_VIGNETTES, ids=lambda p: p.stem)
def test_engine_and_oracle_agree_on_regimens_and_progression_dates(path):
    _agree((json.loads(path.read_text(encoding="utf-8"))["document"], load_policy()))


#: Vignettes 84-96: the ranking criteria, CAR-T first only where a CAR-T is an option, and the bound an
#: unknown drug leaves.
RANK_VIGNETTES = sorted(p for p in (Path(__file__).parents[1] / "examples" / "vignettes").glob("*.json")
                        if 84 <= int(p.name[:2]) <= 96)


@pytest.mark.parametrize("path", RANK_VIGNETTES, ids=lambda p: p.stem)
def test_engine_and_oracle_agree_on_ranks_and_bounds(path):
    _agree((json.loads(path.read_text(encoding="utf-8"))["document"], load_policy()))


def test_the_oracle_ranks_equals_together_and_keeps_the_bound_of_an_unknown_drug():
    # vignette 85 cut down: talquetamab spares the planned BCMA CAR-T's target, elranatamab does not;
    # teclistamab and elranatamab are equal; the wait after teclistamab stays as a bound despite an
    # unknown drug in 2019
    document = {"patient_id": "O-2", "as_of": "2026-03-01", "car_t_eligible": True,
                "lines": [{"agents": ["mirazomib"], "start": "2019-01-01", "end": "2019-06-01"},
                          {"agents": ["teclistamab"], "start": "2025-01-01", "end": "2026-01-15"}],
                "apheresis": [{"status": "planned", "date": "2026-04-01", "product": "cilta-cel"}],
                "candidates": ["elranatamab", "talquetamab", "cilta-cel", "linvoseltamab"]}
    policy = comparable(load_policy())
    day = datetime.date(2026, 3, 1)
    assert oracle.ranks(document, day, policy) == {"cilta-cel": 1, "talquetamab": 2, "elranatamab": 3, "linvoseltamab": 3}
    assert oracle.assess(document, day, policy)["cilta-cel"] == ("indeterminate", None, datetime.date(2026, 7, 15))
    assert oracle.ranks(document, day, policy) == engine_ranks(document, day, policy)
    assert oracle.assess(document, day, policy) == engine_verdicts(document, day, policy)


def test_the_oracle_judges_a_regimen_by_its_targets_and_its_tcrt():
    # after teclistamab, 2 months ago: the combination waits for the interval like teclistamab alone, and
    # re-uses BCMA; talquetamab with teclistamab re-uses BCMA too, though it also brings GPRC5D
    document = {"patient_id": "O-1", "as_of": "2026-02-01", "car_t_eligible": False,
                "lines": [{"agents": ["teclistamab"], "start": "2025-01-01", "end": "2025-12-01"}],
                "candidates": ["Tec-Dara", {"agents": ["talquetamab", "teclistamab"]}, "talquetamab"]}
    policy = comparable(load_policy())
    got = oracle.assess(document, datetime.date(2026, 2, 1), policy)
    assert got == {"Tec-Dara": ("wait", "caution", datetime.date(2026, 6, 1)),
                   "talquetamab + teclistamab": ("wait", "caution", datetime.date(2026, 6, 1)),
                   "talquetamab": ("wait", "acceptable", datetime.date(2026, 6, 1))}
    assert got == engine_verdicts(document, datetime.date(2026, 2, 1), policy)


def test_the_oracle_reads_the_worked_example_as_the_guidance_does():
    # Teclistamab last given 2025-12-15: the interval ends 2026-06-15. Apheresis planned for
    # 2026-07-01 comes after it, so cilta-cel (CAR-T, the first after the bsAb) is preferred; bsAbs
    # are avoided until the T cells are collected, and could not start before the interval ends.
    # Planned for 2026-05-01, the collection must wait, and then cilta-cel is preferred.
    document = json.loads((Path(__file__).parents[1] / "examples" / "tb-014.json").read_text(encoding="utf-8"))
    policy = comparable(load_policy())
    june = datetime.date(2026, 6, 15)
    assert oracle.assess(document, datetime.date(2026, 1, 10), policy) == {
        "cilta-cel": ("preferred", None, None), "talquetamab": ("avoid", None, june), "teclistamab": ("avoid", None, june),
    }
    document["apheresis"][0]["date"] = "2026-05-01"
    assert oracle.assess(document, datetime.date(2026, 1, 10), policy)["cilta-cel"] == ("wait", "preferred", june)


def test_the_oracle_imports_without_hypothesis():
    # The performance benchmark imports it as its baseline, outside the test run.
    script = "import sys; sys.modules['hypothesis'] = None\nimport mmsequence.testing.oracle\nprint('ok')"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=str(Path(__file__).parents[1]))
    assert done.stdout == "ok\n", done.stderr[-2000:]
