"""What an audit says when its numbers would otherwise be a silent zero: nobody matched the cohort
(and why), an empty ``concept_ancestor``, or a high share of drug records no ingredient names.

Each finding is one sentence, shown at the top of the summary and printed on stderr.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import sql, standard
from .mapping import OmopMapping
from .vocabulary import Vocabulary

#: From this share of a cohort's drug records kept as unknown agents on, the audit says so.
UNKNOWN_DRUG_SHARE = 0.2


def _count(source: Any, query: str) -> int:
    return int(source.rows(query)[0][0])


def diagnose(source: Any, vocabulary: Vocabulary, mapping: OmopMapping, persons: int, drug_records: int,
             unmapped: Mapping[tuple[str, int, str], list[int]]) -> list[str]:
    """The findings of an audit of ``persons`` persons with ``drug_records`` drug records."""
    found: list[str] = []
    concepts = ", ".join(str(c) for c in sorted(mapping.myeloma))
    if "myeloma" in mapping.defaults:
        concepts += f" (the default: OMOP standard concept Multiple myeloma, from {standard.LAMBDA})"
    if _count(source, "SELECT COUNT(*) FROM concept_ancestor") == 0:
        found.append("concept_ancestor is empty: no myeloma condition's descendants and no drug's ingredients can be"
                     " found (load the vocabulary's concept_ancestor table)")
    if persons == 0:
        present = _count(source, f"SELECT COUNT(*) FROM concept WHERE concept_id IN ({sql.ids(sorted(mapping.myeloma))})")
        recorded = _count(source, f"SELECT COUNT(*) FROM condition_occurrence WHERE condition_concept_id IN"
                                  f" ({sql.ids(sorted(vocabulary.myeloma))})")
        why = ("none of them is in the concept table" if present == 0 else
               "no condition_occurrence records one of them or a descendant" if recorded == 0 else
               "the cohort query found nobody")
        found.append(f"nobody matched the cohort: the myeloma concepts are {concepts}; {why}."
                     " Name the site's myeloma condition concepts under omop.myeloma in the policy")
    unknown = sum(n[0] for (domain, _, outcome), n in unmapped.items()
                  if domain == "drug" and outcome.startswith("kept as an unknown agent"))
    if drug_records and unknown / drug_records >= UNKNOWN_DRUG_SHARE:
        found.append(f"{unknown} of {drug_records} drug records ({unknown / drug_records:.0%}) name no ingredient the"
                     " catalog knows and are kept as unknown agents, so their decisions are indeterminate: check"
                     " concept_ancestor, omop.ingredient_vocabularies and the unmapped table")
    return found
