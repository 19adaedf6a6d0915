"""What a FHIR CodeableConcept names: a catalog agent, a leukapheresis, a CAR-T, multiple myeloma.

Drugs are matched by code where the catalog holds that code (RxNorm, ATC, OMOP, or a site's own
code system and NDC codes its policy maps; the system is read from the Coding, never assumed),
else by text through the catalog's names and synonyms, including the ingredients an RxNorm
clinical or branded drug name lists (:mod:`mmsequence.fhir.drug_names`). A code and a text that
name two different agents are a contradiction and an error.

A drug the catalog does not know is anti-myeloma therapy only when something says it may be:
an ATC code in a group that holds anti-myeloma therapy, or a name that looks antineoplastic
(:func:`mmsequence.fhir.drug_names.looks_antineoplastic`). Such a drug stays an unknown agent (a
safety finding); any other is not therapy (``fallback_role``), listed and never a line.
Procedures and diagnoses are recognised by their words, and myeloma also by its codes.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from ..catalog import Agent, Catalog, atc_fallback_role
from ..errors import InputError
from ..notices import Notice
from .drug_names import ingredient_names, looks_antineoplastic, name_variants

#: FHIR code system URIs and the catalog's name for each.
CATALOG_SYSTEMS = {
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://www.whocc.no/atc": "ATC",
}
ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm")
SNOMED_SYSTEM = "http://snomed.info/sct"
#: SNOMED CT codes of multiple myeloma, each with the source it was read from. No descendant of
#: 109989006 is listed yet: none was found in a source; a site adds its own through the text or
#: ICD-10, or asks for an assessment explicitly (README, "Records mmsequence reads").
SNOMED_MYELOMA = {
    "109989006": "Multiple myeloma (disorder): synthetichealth/synthea,"
                 " src/main/resources/modules/trigger_bone_marrow_transplant.json (commit 033fe01)",
}
#: The role an uncatalogued drug has when nothing says it may be anti-myeloma therapy.
NOT_THERAPY = "other"

_MYELOMA_CODE = re.compile(r"C90\.?0[0-9]?", re.IGNORECASE)
_MYELOMA_TEXT = re.compile(r"\b(multiple|plasma[- ]cell) myeloma\b", re.IGNORECASE)
_APHERESIS_TEXT = re.compile(r"\b(leu[kc])?apheresis\b", re.IGNORECASE)
_CAR_T_TEXT = re.compile(r"\bCAR[- ]?T\b|chimeric antigen receptor", re.IGNORECASE)
_T_CELL_TEXT = re.compile(r"\bT[- ]?(cell|lymphocyte)s?\b", re.IGNORECASE)
_STEM_CELL_TEXT = re.compile(r"stem[- ]?cell|\bCD34|\bPBSC|\bHPC\b|progenitor|mobili[sz]", re.IGNORECASE)
_STEM_CELL_INFUSION_TEXT = re.compile(
    r"(stem[- ]?cell|\bHPC\b|\bPBSC|progenitor)[^,;]*\b(transplant|infusion|rescue|reinfusion)|"
    r"\b(ASCT|HSCT|auto[- ]?SCT|auto[- ]?HCT)\b|autologous[^,;]*transplant", re.IGNORECASE)
#: Words of a stop reason, and the history's stop reason they mean (first match wins).
_STOP_WORDS = (
    (re.compile(r"progress|relapse|refractor|\bPD\b", re.IGNORECASE), "progression"),
    (re.compile(r"toxic|adverse|intoleran|side[- ]effect", re.IGNORECASE), "toxicity"),
    (re.compile(r"complet|finished|planned (end|stop)", re.IGNORECASE), "completed"),
    (re.compile(r"patient (choice|request|preference|decision|declined)|declined", re.IGNORECASE), "patient-choice"),
)
_BRACKETED = re.compile(r"[\[(]([^\])]+)[\])]")
_HEAD = re.compile(r"[^\d(\[,;/:]+")


@attrs.frozen
class DrugMatch:
    """The agent a concept names (None: not in the catalog), the name to record, and how it was found.

    ``fallback_role`` is the role an uncatalogued drug has by its ATC code ('supportive'), else None.
    """

    agent: Agent | None
    name: str
    matched_by: dict[str, Any]
    fallback_role: str | None = None

    @property
    def role(self) -> str | None:
        """The drug's role: the catalog agent's own, else the ATC fallback; None for an unknown drug."""
        return self.agent.role if self.agent is not None else self.fallback_role

    @property
    def may_be_therapy(self) -> bool:
        """Whether the drug may be anti-myeloma therapy: catalogued as such (in its role or a
        context), or not catalogued and not set aside by its ATC code or its name."""
        if self.agent is not None:
            return self.agent.is_anti_myeloma or any(c in ("conditioning", "lymphodepletion") for c in (
                self.agent.role, *self.agent.contexts))
        return self.fallback_role is None


def _texts(concept: Any) -> list[str]:
    texts = [concept.text] + [coding.display for coding in concept.coding or ()]
    return [text.strip() for text in texts if text and text.strip()]


def _text_candidates(text: str) -> Iterator[str]:
    """The whole text, each bracketed part, then runs of words before any dose or form, longest first."""
    yield text
    yield from _BRACKETED.findall(text)
    head = _HEAD.match(text)
    words = head.group().split() if head else []
    for size in range(len(words), 0, -1):
        for start in range(len(words) - size + 1):
            yield " ".join(words[start:start + size])


#: Per catalog (by identity, dropped with the catalog): the agent each text named, as
#: :func:`agent_by_text` found it. A record names the same few drugs over and over.
_BY_TEXT: dict[int, dict[str, Agent | None]] = {}
_TEXTS_KEPT = 65_536


def agent_by_text(text: str, catalog: Catalog) -> Agent | None:
    """The first catalog agent a name in ``text`` matches ('Tecvayli 10 mg/mL' -> teclistamab;
    'daratumumab-hyaluronidase-fihj 1,800 mg...' -> daratumumab; 'Bortezomib 3.5 MG Injection' ->
    bortezomib), trying the whole text, its runs of words, then the ingredients an RxNorm name lists."""
    known = _BY_TEXT.get(id(catalog))
    if known is None:
        known = _BY_TEXT[id(catalog)] = {}
        weakref.finalize(catalog, _BY_TEXT.pop, id(catalog), None)
    if text not in known:
        if len(known) >= _TEXTS_KEPT:
            known.clear()
        known[text] = _agent_by_text(text, catalog)
    return known[text]


def _agent_by_text(text: str, catalog: Catalog) -> Agent | None:
    found = next((agent for part in _text_candidates(text) for name in name_variants(part)
                  if (agent := catalog.lookup(name))), None)
    if found is not None:
        return found
    ingredients = ingredient_names(text)
    agents = [a for name in ingredients if (a := agent_by_text(name, catalog) if name != text else None)]
    if len(ingredients) > 1 and (whole := catalog.lookup(" and ".join(ingredients))):
        return whole
    return agents[0] if agents else None


def _code(coding: Any) -> dict[str, str]:
    return {k: v for k, v in (("system", coding.system), ("version", coding.version), ("code", coding.code)) if v}


def _agent_by_code(coding: Any, catalog: Catalog) -> Agent | None:
    """The agent a Coding names: a catalog code (by the catalog's name of the system), or a code a
    site's policy maps (by the Coding's own system URI: a local code system, NDC)."""
    if not (coding.system and coding.code):
        return None
    return catalog.by_code(CATALOG_SYSTEMS.get(coding.system, coding.system), coding.code)


def match_drug(concept: Any, catalog: Catalog, path: str, more: tuple[Any, ...] = ()) -> DrugMatch:
    """The agent a medication concept names (``more``: further concepts of the same drug, such as a
    Medication's ingredients, read where the concept names no agent); InputError if it names two
    agents or nothing at all."""
    by_code = [(coding, agent) for coding in concept.coding or () if (agent := _agent_by_code(coding, catalog))]
    by_text = [(text, agent) for text in _texts(concept) if (agent := agent_by_text(text, catalog))]
    found = {agent.name for _, agent in (*by_code, *by_text)}
    if len(found) > 1:
        said = [f"code {coding.code} means {agent.name}" for coding, agent in by_code]
        said += [f"text {text!r} means {agent.name}" for text, agent in by_text]
        raise InputError([Notice("fhir.several-drugs", path, drugs="; ".join(said))])
    if by_code:
        coding, agent = by_code[0]
        return DrugMatch(agent, agent.name, {"code": _code(coding)})
    if by_text:
        text, agent = by_text[0]
        return DrugMatch(agent, agent.name, {"text": text})
    for i, other in enumerate(more):
        match = match_drug(other, catalog, f"{path} ingredient[{i}]") if other.coding or other.text else None
        if match is not None and match.agent is not None:
            return attrs.evolve(match, matched_by={"ingredient": match.matched_by})
    label = next(iter(_texts(concept)), None) or next(
        (f"{c.system or 'no system'}|{c.code}" for c in concept.coding or () if c.code), None
    )
    if label is None:
        raise InputError([Notice("fhir.unnamed-drug", path)])
    return unknown_drug(label, [concept, *more])


def unknown_or_named(text: str, catalog: Catalog) -> DrugMatch:
    """The drug a bare name says (a reference's display): a catalog agent, else an uncatalogued drug."""
    agent = agent_by_text(text, catalog)
    if agent is not None:
        return DrugMatch(agent, agent.name, {"text": text})
    reason = looks_antineoplastic(text)
    if reason is not None:
        return DrugMatch(None, text, {"unmatched": text, "looks_antineoplastic": reason})
    return DrugMatch(None, text, {"not_antineoplastic": text}, NOT_THERAPY)


def not_therapy_by_name(resource: Mapping[str, Any], catalog: Catalog) -> bool:
    """Whether a (raw, perhaps invalid) medication resource names, in its ``medicationCodeableConcept``,
    a drug that is not anti-myeloma therapy: a defect elsewhere in it cannot touch myeloma therapy."""
    concept = resource.get("medicationCodeableConcept")
    if resource.get("resourceType") not in _DRUG_RECORDS or not isinstance(concept, Mapping):
        return False
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from pydantic import ValidationError

    try:
        return not match_drug(CodeableConcept.model_validate(concept), catalog, "").may_be_therapy
    except (ValidationError, InputError):
        return False


_DRUG_RECORDS = ("MedicationAdministration", "MedicationStatement", "MedicationRequest")


def unknown_drug(label: str, concepts: list[Any]) -> DrugMatch:
    """An uncatalogued drug: unknown (possibly anti-myeloma therapy) when an ATC code in an
    anti-myeloma group or an antineoplastic-looking name says it may be, else not therapy."""
    codings = [c for concept in concepts for c in concept.coding or ()]
    atc = next((c for c in codings if CATALOG_SYSTEMS.get(c.system or "") == "ATC" and c.code), None)
    if atc is not None and atc_fallback_role(atc.code) is not None:
        return DrugMatch(None, label, {"atc": _code(atc)}, atc_fallback_role(atc.code))
    if atc is not None:
        return DrugMatch(None, label, {"unmatched": label, "atc": _code(atc)})
    texts = [text for concept in concepts for text in _texts(concept)]
    if not texts:  # a code nobody maps, and no name to judge: it may be anything
        return DrugMatch(None, label, {"unmatched": label})
    reason = next((why for text in texts if (why := looks_antineoplastic(text))), None)
    if reason is not None:
        return DrugMatch(None, label, {"unmatched": label, "looks_antineoplastic": reason})
    return DrugMatch(None, label, {"not_antineoplastic": label}, NOT_THERAPY)


def mentions_apheresis(concept: Any) -> bool:
    """Whether a procedure concept says leukapheresis (or apheresis; plasmapheresis is not)."""
    return concept is not None and any(_APHERESIS_TEXT.search(text) for text in _texts(concept))


def mentions_car_t(concept: Any) -> bool:
    """Whether a procedure concept speaks of CAR-T cells."""
    return concept is not None and any(_CAR_T_TEXT.search(text) for text in _texts(concept))


def mentions_t_cells(concept: Any) -> bool:
    """Whether a procedure concept speaks of T cells (a T-cell collection)."""
    return concept is not None and any(_T_CELL_TEXT.search(text) for text in _texts(concept))


def mentions_stem_cells(concept: Any) -> bool:
    """Whether a procedure concept speaks of stem cells (a harvest or mobilisation for a transplant)."""
    return concept is not None and any(_STEM_CELL_TEXT.search(text) for text in _texts(concept))


def mentions_stem_cell_infusion(concept: Any) -> bool:
    """Whether a procedure concept is a stem-cell transplant (the infusion of the stem cells)."""
    return concept is not None and any(_STEM_CELL_INFUSION_TEXT.search(text) for text in _texts(concept))


def stop_reason(resource: Any) -> str | None:
    """Why a medication resource stopped, from its ``statusReason`` (text or coding display)."""
    reasons = getattr(resource, "statusReason", None)
    concepts = reasons if isinstance(reasons, list) else [reasons] if reasons is not None else []
    texts = [text for concept in concepts for text in _texts(concept)]
    if not texts:
        return None
    return next((reason for pattern, reason in _STOP_WORDS if any(pattern.search(t) for t in texts)), "other")


def is_myeloma(concept: Any) -> bool:
    """Whether a condition concept is multiple myeloma: ICD-10 C90.0x, SNOMED CT multiple myeloma,
    or the words in its text."""
    if concept is None:
        return False
    coded = any(
        c.code and ((c.system in ICD10_SYSTEMS and _MYELOMA_CODE.fullmatch(c.code))
                    or (c.system == SNOMED_SYSTEM and c.code in SNOMED_MYELOMA))
        for c in concept.coding or ()
    )
    return bool(coded) or any(_MYELOMA_TEXT.search(text) for text in _texts(concept))


def names_car_t_order(resource: Any, catalog: Catalog) -> bool:
    """Whether a ServiceRequest or MedicationRequest orders a CAR-T product or CAR-T cells."""
    kind = resource.get_resource_type()
    concept = resource.code if kind == "ServiceRequest" else (
        resource.medicationCodeableConcept if kind == "MedicationRequest" else None)
    if concept is None:
        return False
    if mentions_car_t(concept):
        return True
    agents = [_agent_by_code(c, catalog) for c in concept.coding or ()]
    agents += [agent_by_text(text, catalog) for text in _texts(concept)]
    return any(a is not None and a.modality == "car-t" for a in agents)
