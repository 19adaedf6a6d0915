"""The part of the OMOP vocabularies an audit needs, read once per run, and what each drug concept means.

A drug exposure records a drug concept (a clinical drug, a branded pack, an ingredient...). Its
active ingredients are its ancestors of concept class ``Ingredient`` in the ingredient
vocabularies (RxNorm and RxNorm Extension by default) through ``concept_ancestor``; an
ingredient's ATC classes are its ancestors in the ATC vocabulary. Each ingredient is named
through the agent catalog: by its RxNorm code where the catalog holds it, else by its code as a
site synonym (``synonyms: {"LOCAL-123": teclistamab}``), else by its name. The vocabulary's size
is the vocabulary's, never the cohort's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..catalog import Agent, Catalog, atc_fallback_role


@attrs.frozen
class Ingredient:
    concept_id: int
    name: str
    vocabulary: str
    code: str
    atc: tuple[str, ...] = ()


@attrs.frozen
class Vocabulary:
    """Drug concepts with their ingredients, the names of drug concepts, and the myeloma conditions."""

    ingredients: Mapping[int, tuple[Ingredient, ...]]
    drug_names: Mapping[int, str]
    myeloma: frozenset[int]


@attrs.frozen
class DrugMeaning:
    """What one ingredient (or a drug concept without one) is: its agent (None: not in the catalog),
    the name to record, how it matched, and ``outcome``: ``agent`` (in the catalog, with its
    role), ``not-anti-myeloma`` (uncatalogued, every ATC class outside the anti-myeloma groups:
    ``fallback_role`` says so, and the lines set it aside) or ``unknown-agent`` (kept, so the
    verdicts are indeterminate)."""

    agent: Agent | None
    name: str
    matched_by: Mapping[str, Any]
    outcome: str
    fallback_role: str | None = None


def ingredient_meaning(ingredient: Ingredient, catalog: Catalog) -> DrugMeaning:
    """The catalog agent an ingredient names, else what is done with it."""
    agent = catalog.by_code("RxNorm", ingredient.code) if ingredient.vocabulary == "RxNorm" else None
    how = {"code": f"{ingredient.vocabulary} {ingredient.code}"}
    if agent is None:
        agent, how = catalog.lookup(ingredient.code), {"synonym": ingredient.code}
    if agent is None:
        agent, how = catalog.lookup(ingredient.name), {"name": ingredient.name}
    if agent is not None:
        return DrugMeaning(agent, agent.name, how, "agent")
    roles = {atc_fallback_role(code) for code in ingredient.atc}
    if roles == {"supportive"}:
        atc = {"system": "ATC", "code": ingredient.atc[0]}
        return DrugMeaning(None, ingredient.name, {"atc": atc}, "not-anti-myeloma", "supportive")
    return DrugMeaning(None, ingredient.name, {"unmatched": ingredient.name}, "unknown-agent")


def drug_meanings(concept_id: int, vocabulary: Vocabulary, catalog: Catalog) -> tuple[DrugMeaning, ...]:
    """What a drug concept means: one meaning per ingredient; a concept without an ingredient is
    named by its own name (a site's synonym), else kept as an unknown agent."""
    ingredients = vocabulary.ingredients.get(concept_id, ())
    if ingredients:
        return tuple(ingredient_meaning(i, catalog) for i in ingredients)
    name = vocabulary.drug_names.get(concept_id) or f"drug concept {concept_id}"
    agent = catalog.lookup(name)
    if agent is not None:
        return (DrugMeaning(agent, agent.name, {"name": name}, "agent"),)
    return (DrugMeaning(None, name, {"unmatched": name}, "unknown-agent"),)
