"""Every safety invariant holds on generated histories, under the shipped and generated policies."""

from hypothesis import strategies as st

from mmsequence import load_policy
from mmsequence.testing import invariants
from mmsequence.testing.strategies import patient_histories, policies

from .profiles import SEEDS, run

CASES = st.tuples(patient_histories(), st.one_of(st.just(load_policy()), policies()))


def _holds(case) -> None:
    document, policy = case
    violations = invariants.check(document, policy)
    assert not violations, "\n".join(violations)


@SEEDS
def test_every_invariant_holds_on_generated_histories(seed_value):
    run(_holds, CASES, seed_value)
