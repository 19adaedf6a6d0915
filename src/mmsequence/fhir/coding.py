"""What a FHIR CodeableConcept names: a catalog agent, a leukapheresis, a CAR-T, multiple myeloma.

Drugs are matched by code where the catalog holds that code (RxNorm, ATC; the system is read
from the Coding, never assumed), else by text through the catalog's names and synonyms. A code
and a text that name two different agents are a contradiction and an error. A drug the catalog
does not know but whose ATC code lies outside the groups that hold anti-myeloma therapy is
supportive care (``catalog.atc_fallback_role``). Procedures and
diagnoses are recognised by their words, and myeloma also by its ICD-10 code C90.0.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import attrs

from ..catalog import Agent, Catalog, atc_fallback_role
from ..errors import InputError

#: FHIR code system URIs and the catalog's name for each.
CATALOG_SYSTEMS = {
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://www.whocc.no/atc": "ATC",
}
ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm")

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


def agent_by_text(text: str, catalog: Catalog) -> Agent | None:
    """The first catalog agent a name in ``text`` matches ('Tecvayli 10 mg/mL' -> teclistamab)."""
    return next((agent for part in _text_candidates(text) if (agent := catalog.lookup(part))), None)


def _code(coding: Any) -> dict[str, str]:
    return {k: v for k, v in (("system", coding.system), ("version", coding.version), ("code", coding.code)) if v}


def match_drug(concept: Any, catalog: Catalog, path: str) -> DrugMatch:
    """The agent a medication concept names; InputError if it names two agents or nothing at all."""
    by_code = [
        (coding, agent) for coding in concept.coding or ()
        if coding.system in CATALOG_SYSTEMS and coding.code
        and (agent := catalog.by_code(CATALOG_SYSTEMS[coding.system], coding.code))
    ]
    by_text = [(text, agent) for text in _texts(concept) if (agent := agent_by_text(text, catalog))]
    found = {agent.name for _, agent in (*by_code, *by_text)}
    if len(found) > 1:
        said = [f"code {coding.code} means {agent.name}" for coding, agent in by_code]
        said += [f"text {text!r} means {agent.name}" for text, agent in by_text]
        raise InputError([f"{path}: names more than one drug ({'; '.join(said)})"])
    if by_code:
        coding, agent = by_code[0]
        return DrugMatch(agent, agent.name, {"code": _code(coding)})
    if by_text:
        text, agent = by_text[0]
        return DrugMatch(agent, agent.name, {"text": text})
    label = next(iter(_texts(concept)), None) or next(
        (f"{c.system or 'no system'}|{c.code}" for c in concept.coding or () if c.code), None
    )
    if label is None:
        raise InputError([f"{path}: has neither a text nor a code that names the drug"])
    atc = next((c for c in concept.coding or () if CATALOG_SYSTEMS.get(c.system or "") == "ATC" and c.code), None)
    if atc is not None and atc_fallback_role(atc.code) is not None:
        return DrugMatch(None, label, {"atc": _code(atc)}, atc_fallback_role(atc.code))
    return DrugMatch(None, label, {"unmatched": label})


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
    """Whether a condition concept is multiple myeloma: ICD-10 C90.0x, or the words in its text."""
    if concept is None:
        return False
    coded = any(
        c.system in ICD10_SYSTEMS and c.code and _MYELOMA_CODE.fullmatch(c.code) for c in concept.coding or ()
    )
    return coded or any(_MYELOMA_TEXT.search(text) for text in _texts(concept))


def names_car_t_order(resource: Any, catalog: Catalog) -> bool:
    """Whether a ServiceRequest or MedicationRequest orders a CAR-T product or CAR-T cells."""
    kind = resource.get_resource_type()
    concept = resource.code if kind == "ServiceRequest" else (
        resource.medicationCodeableConcept if kind == "MedicationRequest" else None)
    if concept is None:
        return False
    if mentions_car_t(concept):
        return True
    agents = [catalog.by_code(CATALOG_SYSTEMS[c.system], c.code) for c in concept.coding or ()
              if c.system in CATALOG_SYSTEMS and c.code]
    agents += [agent_by_text(text, catalog) for text in _texts(concept)]
    return any(a is not None and a.modality == "car-t" for a in agents)
