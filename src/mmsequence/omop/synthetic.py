"""A synthetic OMOP CDM with known answers: generated myeloma patients written as CDM tables.

The tables are those of the official CDM v5.4 DDL (:mod:`.cdm`), created by the writer, every
NOT NULL column filled. Standard concepts are used where a source gives them (:mod:`.standard`):
multiple myeloma 437233, T-cell collection 927059, the CAR-T introduction procedure 43018384,
the myeloma drug ingredients of the OHDSI codeset that the catalog holds an RxNorm code for, and
the type, gender, race and ethnicity concepts; each is in the concept table with its name. Every
other concept is synthetic: ids from 2,000,000,001 up (the range OMOP leaves to local concepts),
in the vocabulary ``mmsequence synthetic``, codes that start ``SYN-`` (one ATC class
``B99SYN``), and names that say ``(synthetic concept)`` except the ingredients'. No synthetic
code is a real RxNorm, ATC or SNOMED code. An ingredient for which the catalog holds an RxNorm
code is an ``RxNorm`` concept with that code, so the audit names it by its code as in a real CDM;
the others carry the catalog's generic names and are named by them. One CAR-T product carries a
name that matches nothing and a synthetic code, and is named only through the synonym the
synthetic policy (``synthetic-policy.yaml`` beside this module) gives its code.

Each person has one observation period, ending on ``CDM_END`` at the latest: nothing is recorded
after it (a drug given across it ends on it), so no decision falls after it.

For each decision the writer also gives the patient-history document the records should read as
the day before (built from the generated patient, not from the tables), so that the audit's
expected result is known for every decision: :func:`expected_rows` evaluates those documents.

The patients follow one plan: 2-5 conventional lines (no two in a row share a drug but
dexamethasone), then 1-3 TCRT lines (bsAbs given in 28-day rows; a CAR-T infusion after a
T-cell collection, often after lymphodepletion, recorded as a drug exposure, a procedure, or
both), gaps of 20-240 days,
progressions, CAR-T eligibility, soluble BCMA, overrides, and records the audit must list as
unmapped (other conditions, procedures and labs, supportive care, a combination product's
second ingredient, an unknown investigational compound).
"""

from __future__ import annotations

import datetime
import functools
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from . import cdm, standard

BASE = 2_000_000_000
MYELOMA, MYELOMA_RELAPSE, HYPERTENSION = standard.MULTIPLE_MYELOMA, BASE + 2, BASE + 3
CAR_T_PROCEDURE, CAR_T_PROCEDURE_CILTA = standard.CAR_T_INFUSION[0], BASE + 102
APHERESIS, MARROW_BIOPSY = standard.T_CELL_COLLECTION, BASE + 299
#: The last day the CDM holds data for (every observation period ends on it at the latest).
CDM_END = datetime.date(2026, 6, 30)
ELIGIBILITY, ELIGIBLE_YES, ELIGIBLE_NO = BASE + 301, BASE + 311, BASE + 312
SOLUBLE_BCMA, NG_PER_ML, HEMOGLOBIN = BASE + 401, BASE + 411, BASE + 499
PROGRESSION, OVERRIDE = BASE + 501, BASE + 601
SUPPORTIVE_ATC = BASE + 901
_INGREDIENT, _DRUG = BASE + 1000, BASE + 2000

#: Ingredients by catalog name (zoledronic acid is supportive care, hyaluronidase and the
#: investigational compound are not in the catalog, fludarabine is lymphodepletion).
INGREDIENTS = ("bortezomib", "carfilzomib", "ixazomib", "lenalidomide", "pomalidomide", "daratumumab",
               "isatuximab", "elotuzumab", "cyclophosphamide", "selinexor", "dexamethasone",
               "teclistamab", "elranatamab", "talquetamab", "linvoseltamab",
               "ciltacabtagene autoleucel", "idecabtagene vicleucel",
               "zoledronic acid", "hyaluronidase", "synthetic investigational compound", "fludarabine")
#: The one ingredient named only through its code (a site synonym in the synthetic policy).
CODED_ONLY = "idecabtagene vicleucel"
REGIMENS = (("bortezomib", "lenalidomide", "dexamethasone"), ("daratumumab", "bortezomib", "dexamethasone"),
            ("carfilzomib", "pomalidomide", "dexamethasone"), ("isatuximab", "pomalidomide", "dexamethasone"),
            ("elotuzumab", "lenalidomide", "dexamethasone"), ("selinexor", "bortezomib", "dexamethasone"),
            ("ixazomib", "lenalidomide", "dexamethasone"), ("cyclophosphamide", "bortezomib", "dexamethasone"),
            ("daratumumab", "lenalidomide", "dexamethasone"), ("carfilzomib", "cyclophosphamide", "dexamethasone"))
BSABS = ("teclistamab", "elranatamab", "talquetamab", "linvoseltamab")
CAR_TS = ("ciltacabtagene autoleucel", "idecabtagene vicleucel")
OVERRIDE_TEXTS = ("review.interval:rapid-progression", "review.car-t-first-bsab:patient-preference",
                  "extended.car-t-after-bsab:no-alternative", "review.switch-target:other:board decision")
UNKNOWN_CAR_T = f"CAR-T product not recorded (procedure concept {CAR_T_PROCEDURE})"

COLUMNS: dict[str, tuple[str, ...]] = {
    "person": ("person_id", "gender_concept_id", "year_of_birth", "race_concept_id", "ethnicity_concept_id"),
    "observation_period": ("observation_period_id", "person_id", "observation_period_start_date",
                           "observation_period_end_date", "period_type_concept_id"),
    "concept": ("concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept",
                "concept_code", "valid_start_date", "valid_end_date", "invalid_reason"),
    "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation",
                         "max_levels_of_separation"),
    "condition_occurrence": ("condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date",
                             "condition_type_concept_id"),
    "drug_exposure": ("drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date",
                      "drug_exposure_end_date", "drug_type_concept_id"),
    "procedure_occurrence": ("procedure_occurrence_id", "person_id", "procedure_concept_id", "procedure_date",
                             "procedure_type_concept_id"),
    "observation": ("observation_id", "person_id", "observation_concept_id", "observation_date", "value_as_number",
                    "value_as_string", "value_as_concept_id", "unit_concept_id", "observation_type_concept_id"),
    "measurement": ("measurement_id", "person_id", "measurement_concept_id", "measurement_date", "value_as_number",
                    "value_as_concept_id", "unit_concept_id", "measurement_type_concept_id"),
}
#: Type, gender, race and ethnicity concepts: ids and names from the sources in :mod:`.standard`
#: (the sources give no codes: the codes here are synthetic).
_TYPE_CONCEPTS = (
    (standard.EHR, "EHR", "Type Concept", "Type Concept", "Type Concept", "SYN-TYPE-1"),
    (standard.EHR_ADMINISTRATION, "EHR administration record", "Type Concept", "Type Concept", "Type Concept", "SYN-TYPE-2"),
    (standard.STANDARD_ALGORITHM, "Standard algorithm", "Type Concept", "Type Concept", "Type Concept", "SYN-TYPE-3"),
    (standard.MALE, "MALE", "Gender", "Gender", "Gender", "SYN-GENDER-1"),
    (standard.FEMALE, "FEMALE", "Gender", "Gender", "Gender", "SYN-GENDER-2"),
    (standard.WHITE, "White", "Race", "Race", "Race", "SYN-RACE-1"),
    (standard.BLACK, "Black", "Race", "Race", "Race", "SYN-RACE-2"),
    (standard.ASIAN, "Asian", "Race", "Race", "Race", "SYN-RACE-3"),
    (standard.HISPANIC, "Hispanic or Latino", "Ethnicity", "Ethnicity", "Ethnicity", "SYN-ETHNICITY-1"),
    (standard.NOT_HISPANIC, "Not Hispanic", "Ethnicity", "Ethnicity", "Ethnicity", "SYN-ETHNICITY-2"),
)
_EHR, _GIVEN = standard.EHR, standard.EHR_ADMINISTRATION
_EPOCH = datetime.date(1970, 1, 1)
_FOREVER = datetime.date(2099, 12, 31)


def _standard_ingredients() -> dict[str, int]:
    """The OHDSI codeset's ingredient concept ids by catalog name, where the catalog holds an RxNorm code."""
    from ..catalog import load_catalog

    catalog, rxnorm = load_catalog(), _catalog_rxnorm()
    found = {}
    for concept, name in standard.MYELOMA_DRUGS.items():
        agent = catalog.lookup(name)
        if agent is not None and agent.name in rxnorm and agent.name in INGREDIENTS and agent.name != CODED_ONLY:
            found[agent.name] = concept
    return found


def ingredient_id(name: str) -> int:
    """The standard concept id where a source gives it, else a synthetic one."""
    return _STANDARD_IDS().get(name) or _INGREDIENT + INGREDIENTS.index(name) + 1


@functools.cache
def _STANDARD_IDS() -> dict[str, int]:
    return _standard_ingredients()


def drug_id(name: str) -> int:
    """The synthetic clinical-drug concept of an ingredient (the one drug exposures record)."""
    return _DRUG + INGREDIENTS.index(name) + 1


DARA_COMBINATION = _DRUG + 100  # daratumumab with hyaluronidase: two ingredients


def ingredient_code(name: str) -> str:
    return f"SYN-ING-{INGREDIENTS.index(name) + 1:03d}"


def _catalog_rxnorm() -> dict[str, str]:
    """The RxNorm ingredient code the catalog holds for each agent that has one."""
    from ..catalog import load_catalog

    return {a.name: c.code for a in load_catalog().agents for c in a.codes if c.system == "RxNorm"}


def vocabulary() -> dict[str, list[tuple[Any, ...]]]:
    """The synthetic vocabulary subset: concept and concept_ancestor rows."""
    def concept(cid: int, name: str, domain: str, vocab: str, cls: str, code: str, standard: str | None = "S") -> tuple[Any, ...]:
        shown = name if cls == "Ingredient" and name in INGREDIENTS else f"{name} (synthetic concept)"
        return (cid, shown, domain, vocab, cls, standard, code, _EPOCH, _FOREVER, None)

    def real(cid: int, name: str, domain: str, vocab: str, cls: str, code: str) -> tuple[Any, ...]:
        return (cid, name, domain, vocab, cls, "S", code, _EPOCH, _FOREVER, None)

    synthetic = "mmsequence synthetic"
    concepts = [
        real(MYELOMA, "Multiple myeloma", "Condition", synthetic, "Clinical Finding", "SYN-COND-001"),
        real(APHERESIS, "Chimeric antigen receptor T-cell (CAR-T) therapy; harvesting of blood-derived T lymphocytes"
             " for development of genetically modified autologous CAR-T cells, per day", "Procedure", synthetic,
             "Procedure", "SYN-PROC-201"),
        real(CAR_T_PROCEDURE, "Introduction of Engineered Autologous Chimeric Antigen Receptor T-cell Immunotherapy"
             " into Peripheral Vein", "Procedure", synthetic, "Procedure", "SYN-PROC-101"),
        *(real(cid, name, domain, vocab, cls, code) for cid, name, domain, vocab, cls, code in _TYPE_CONCEPTS),
        concept(MYELOMA_RELAPSE, "Multiple myeloma in relapse", "Condition", synthetic, "Clinical Finding", "SYN-COND-002"),
        concept(HYPERTENSION, "Essential hypertension", "Condition", synthetic, "Clinical Finding", "SYN-COND-003"),
        concept(CAR_T_PROCEDURE_CILTA, "Ciltacabtagene autoleucel infusion", "Procedure", synthetic, "Procedure", "SYN-PROC-102"),
        concept(MARROW_BIOPSY, "Bone marrow biopsy", "Procedure", synthetic, "Procedure", "SYN-PROC-299"),
        concept(ELIGIBILITY, "CAR-T eligibility assessed", "Observation", synthetic, "Observable Entity", "SYN-OBS-301"),
        concept(ELIGIBLE_YES, "Eligible", "Meas Value", synthetic, "Qualifier Value", "SYN-VAL-311"),
        concept(ELIGIBLE_NO, "Not eligible", "Meas Value", synthetic, "Qualifier Value", "SYN-VAL-312"),
        concept(SOLUBLE_BCMA, "Soluble BCMA in serum", "Measurement", synthetic, "Lab Test", "SYN-LAB-401"),
        concept(NG_PER_ML, "nanogram per milliliter", "Unit", synthetic, "Unit", "SYN-UNIT-411"),
        concept(HEMOGLOBIN, "Hemoglobin in blood", "Measurement", synthetic, "Lab Test", "SYN-LAB-499"),
        concept(PROGRESSION, "Progressive disease", "Observation", synthetic, "Clinical Finding", "SYN-OBS-501"),
        concept(OVERRIDE, "Guidance override recorded", "Observation", synthetic, "Observable Entity", "SYN-OBS-601"),
        concept(SUPPORTIVE_ATC, "Other hematological agents", "Drug", "ATC", "ATC 2nd", "B99SYN", "C"),
        concept(DARA_COMBINATION, "daratumumab / hyaluronidase injection", "Drug", synthetic, "Clinical Drug", "SYN-DRUG-100"),
    ]
    ancestors: list[tuple[Any, ...]] = [(MYELOMA, MYELOMA, 0, 0), (MYELOMA_RELAPSE, MYELOMA_RELAPSE, 0, 0),
                                        (MYELOMA, MYELOMA_RELAPSE, 1, 1), (DARA_COMBINATION, DARA_COMBINATION, 0, 0)]
    rxnorm = _catalog_rxnorm()
    for name in INGREDIENTS:
        shown = "CAR-T product B" if name == CODED_ONLY else name
        if name in rxnorm and name != CODED_ONLY:  # the catalog's RxNorm code, with the source it gives
            concepts.append(concept(ingredient_id(name), shown, "Drug", "RxNorm", "Ingredient", rxnorm[name]))
        else:
            concepts.append(concept(ingredient_id(name), shown, "Drug", synthetic, "Ingredient", ingredient_code(name)))
        concepts.append(concept(drug_id(name), f"{shown} injectable product", "Drug", synthetic, "Clinical Drug",
                                f"SYN-DRUG-{INGREDIENTS.index(name) + 1:03d}"))
        ancestors += [(ingredient_id(name), ingredient_id(name), 0, 0), (drug_id(name), drug_id(name), 0, 0),
                      (ingredient_id(name), drug_id(name), 1, 1)]
    ancestors += [(ingredient_id("daratumumab"), DARA_COMBINATION, 1, 1), (ingredient_id("hyaluronidase"), DARA_COMBINATION, 1, 1),
                  (SUPPORTIVE_ATC, ingredient_id("hyaluronidase"), 1, 1), (SUPPORTIVE_ATC, drug_id("hyaluronidase"), 2, 2),
                  (SUPPORTIVE_ATC, DARA_COMBINATION, 2, 2)]
    return {"concept": concepts, "concept_ancestor": ancestors}


@attrs.frozen
class ExpectedDecision:
    """A decision the records hold, and the document its history should read as."""

    person_id: int
    day: datetime.date
    therapy: str
    line: int
    document: dict[str, Any]


@attrs.define
class Patient:
    """One generated patient: CDM rows by table, and the decisions with their documents."""

    person_id: int
    rows: dict[str, list[tuple[Any, ...]]] = attrs.Factory(lambda: {t: [] for t in COLUMNS if not t.startswith("concept")})
    decisions: list[ExpectedDecision] = attrs.Factory(list)


class _Ids:
    """Record ids: unique per table across the whole CDM (person id times 1,000 plus a counter)."""

    def __init__(self, person_id: int) -> None:
        self.base, self.n = person_id * 1000, 0

    def __call__(self) -> int:
        self.n += 1
        return self.base + self.n


def _approved() -> list[str]:
    from ..catalog import load_catalog

    return [a.name for a in load_catalog().approved_tcrts()]


def patient(person_id: int, rng: random.Random, approved: list[str]) -> Patient:
    """One synthetic patient; 1 in 20 has no myeloma diagnosis (outside the cohort, no decisions)."""
    p = Patient(person_id)
    new_id = _Ids(person_id)
    rows = p.rows
    who = random.Random(person_id)  # demographics from their own generator: the histories stay as they were
    rows["person"].append((person_id, who.choice((standard.MALE, standard.FEMALE)), rng.randint(1940, 1975),
                           who.choice((standard.WHITE, standard.WHITE, standard.BLACK, standard.ASIAN)),
                           who.choice((standard.NOT_HISPANIC, standard.NOT_HISPANIC, standard.HISPANIC))))
    day = datetime.date(2016, 1, 1) + datetime.timedelta(days=rng.randint(0, 1500))
    if rng.random() < 0.05:
        rows["condition_occurrence"].append((new_id(), person_id, HYPERTENSION, day, _EHR))
        return _observed(p, day)
    rows["condition_occurrence"].append((new_id(), person_id, rng.choice((MYELOMA, MYELOMA, MYELOMA_RELAPSE)), day, _EHR))
    rows["condition_occurrence"].append((new_id(), person_id, HYPERTENSION, day + datetime.timedelta(days=3), _EHR))
    rows["measurement"].append((new_id(), person_id, HEMOGLOBIN, day, round(rng.uniform(8, 14), 1), None, None, _EHR))
    if rng.random() < 0.5:
        rows["procedure_occurrence"].append((new_id(), person_id, MARROW_BIOPSY, day, _EHR))
    if rng.random() < 0.3:  # supportive care: set aside, never a line
        rows["drug_exposure"].append((new_id(), person_id, drug_id("zoledronic acid"), day, day, _GIVEN))
    eligible = rng.choice((True, True, False, None))
    if eligible is not None:
        rows["observation"].append((new_id(), person_id, ELIGIBILITY, day + datetime.timedelta(days=10), None, None,
                                    ELIGIBLE_YES if eligible else ELIGIBLE_NO, None, _EHR))
    lines: list[dict[str, Any]] = []  # the truth: what the document will say
    facts = _Facts(eligible, day + datetime.timedelta(days=10))
    start = day + datetime.timedelta(days=rng.randint(14, 40))
    previous: tuple[str, ...] = ()
    for _ in range(rng.randint(2, 5)):
        regimen: tuple[str, ...] = rng.choice([r for r in REGIMENS if not set(r) & (set(previous) - {"dexamethasone"})])
        if rng.random() < 0.03:
            regimen = (*regimen, "synthetic investigational compound")
        end = _conventional(p, new_id, regimen, start, rng.randint(3, 12), rng)
        lines.append({"agents": sorted(set(regimen)), "start": start, "end": end})
        previous = regimen
        start = _after(p, new_id, lines, end, rng, facts)
    used_car_t = False
    for _ in range(rng.randint(1, 3)):
        car_t = not used_car_t and rng.random() < 0.4
        if car_t:
            used_car_t = True
            product = rng.choice(CAR_TS)
            collection = start - datetime.timedelta(days=rng.randint(30, 60))
            if collection <= lines[-1]["end"]:
                collection = start
                start = start + datetime.timedelta(days=rng.randint(30, 60))
            rows["procedure_occurrence"].append((new_id(), person_id, APHERESIS, collection, _EHR))
            facts.collections.append(collection)
            therapy = _infusion(p, new_id, product, start, rng)
            lines.append({"agents": [therapy], "start": start, "end": start})
            end = start
        else:
            therapy = rng.choice([b for b in BSABS if b not in previous])
            end = _cycles(p, new_id, therapy, start, rng.randint(2, 10), 0)
            lines.append({"agents": [therapy], "start": start, "end": end})
        previous = (therapy,)
        _decision(p, new_id, lines, facts, therapy, start, approved, rng)
        start = _after(p, new_id, lines, end, rng, facts)
    return _observed(p, day)


def _observed(p: Patient, first: datetime.date) -> Patient:
    """The patient as the CDM holds it: nothing after ``CDM_END`` (a drug given across it ends on
    it, a decision after it is not made), and one observation period from ``first`` to it."""
    for table, rows in p.rows.items():
        if table == "person":
            continue
        kept = [r for r in rows if r[3] <= CDM_END]
        if table == "drug_exposure":
            kept = [r if r[4] <= CDM_END else (*r[:4], CDM_END, *r[5:]) for r in kept]
        p.rows[table] = kept
    p.rows["observation_period"] = [(p.person_id, p.person_id, first, CDM_END, standard.STANDARD_ALGORITHM)]
    p.decisions = [d for d in p.decisions if d.day <= CDM_END]
    return p


@attrs.define
class _Facts:
    """What was recorded besides drugs, for the documents."""

    eligible: bool | None
    eligible_on: datetime.date
    progressions: list[datetime.date] = attrs.Factory(list)
    collections: list[datetime.date] = attrs.Factory(list)
    soluble_bcma: list[tuple[datetime.date, float]] = attrs.Factory(list)


def _cycles(p: Patient, new_id: _Ids, name: str, start: datetime.date, cycles: int, offset: int,
            concept: int | None = None) -> datetime.date:
    """One row per 28-day cycle of one drug (``offset``: its first day, 0-based); the last dose."""
    end = start
    for c in range(cycles):
        first = start + datetime.timedelta(days=28 * c + offset)
        end = first + datetime.timedelta(days=27)
        p.rows["drug_exposure"].append((new_id(), p.person_id, concept or drug_id(name), first, end, _GIVEN))
    return end


def _conventional(p: Patient, new_id: _Ids, regimen: tuple[str, ...], start: datetime.date, cycles: int,
                  rng: random.Random) -> datetime.date:
    """A conventional line; dexamethasone from each cycle's second day, so that it joins this line."""
    ends = []
    for name in regimen:
        concept = DARA_COMBINATION if name == "daratumumab" and rng.random() < 0.5 else None
        ends.append(_cycles(p, new_id, name, start, cycles, 1 if name == "dexamethasone" else 0, concept))
    return max(ends)


def _infusion(p: Patient, new_id: _Ids, product: str, day: datetime.date, rng: random.Random) -> str:
    """A CAR-T infusion as a drug exposure, a procedure naming the product, or both; rarely a
    procedure that names no product (an unknown CAR-T). Returns the therapy's name."""
    if rng.random() < 0.5:  # lymphodepletion: part of the CAR-T line, never a line of its own
        for name in ("fludarabine", "cyclophosphamide"):
            first = day - datetime.timedelta(days=5)
            p.rows["drug_exposure"].append((new_id(), p.person_id, drug_id(name), first, first + datetime.timedelta(days=2), _GIVEN))
    roll = rng.random()
    if roll < 0.03:
        p.rows["procedure_occurrence"].append((new_id(), p.person_id, CAR_T_PROCEDURE, day, _EHR))
        return UNKNOWN_CAR_T
    if roll < 0.25 and product == "ciltacabtagene autoleucel":
        p.rows["procedure_occurrence"].append((new_id(), p.person_id, CAR_T_PROCEDURE_CILTA, day, _EHR))
        return product
    p.rows["drug_exposure"].append((new_id(), p.person_id, drug_id(product), day, day, _GIVEN))
    if roll < 0.6:
        p.rows["procedure_occurrence"].append((new_id(), p.person_id, CAR_T_PROCEDURE, day, _EHR))
    return product


def _after(p: Patient, new_id: _Ids, lines: list[dict[str, Any]], end: datetime.date, rng: random.Random,
           facts: _Facts) -> datetime.date:
    """After a line: maybe a progression, maybe a soluble BCMA level; the next line's start."""
    if rng.random() < 0.7:
        day = end + datetime.timedelta(days=rng.randint(1, 10))
        p.rows["observation"].append((new_id(), p.person_id, PROGRESSION, day, None, None, None, None, _EHR))
        facts.progressions.append(day)
    gap = rng.randint(20, 240)
    if rng.random() < 0.3:
        day, level = end + datetime.timedelta(days=rng.randint(11, 15)), float(rng.choice((80, 150, 420, 650)))
        p.rows["measurement"].append((new_id(), p.person_id, SOLUBLE_BCMA, day, level, None, NG_PER_ML, _EHR))
        facts.soluble_bcma.append((day, level))
        gap = max(gap, 20)
    if rng.random() < 0.1 and facts.eligible is not None:  # eligibility reassessed
        day = end + datetime.timedelta(days=16)
        facts.eligible, facts.eligible_on = not facts.eligible, day
        p.rows["observation"].append((new_id(), p.person_id, ELIGIBILITY, day, None, None,
                                      ELIGIBLE_YES if facts.eligible else ELIGIBLE_NO, None, _EHR))
    return end + datetime.timedelta(days=gap)


def _decision(p: Patient, new_id: _Ids, lines: list[dict[str, Any]], facts: _Facts, therapy: str, day: datetime.date,
              approved: list[str], rng: random.Random) -> None:
    as_of = day - datetime.timedelta(days=1)
    overrides = []
    if rng.random() < 0.15:
        text = rng.choice(OVERRIDE_TEXTS)
        p.rows["observation"].append((new_id(), p.person_id, OVERRIDE, day, None, text, None, None, _EHR))
        rule, reason, *note = text.split(":", 2)
        overrides.append({"rule": rule, "candidate": therapy, "reason": reason, **({"note": note[0]} if note else {})})
    prior = lines[:-1]
    document: dict[str, Any] = {
        "patient_id": str(p.person_id), "as_of": as_of.isoformat(),
        "lines": [_line_document(line, facts.progressions, prior[i + 1]["start"] if i + 1 < len(prior) else day)
                  for i, line in enumerate(prior)],
        "candidates": list(dict.fromkeys([therapy, *approved])),
    }
    if facts.eligible is not None:  # every assessment is recorded before the next line starts
        document["car_t_eligible"] = facts.eligible
    levels = [level for d, level in facts.soluble_bcma if d <= as_of]
    if levels:
        document["biomarkers"] = {"soluble_bcma_ng_ml": levels[-1]}
    collections = [{"status": "done", "date": d.isoformat()} for d in facts.collections if d <= as_of]
    if collections:
        document["apheresis"] = collections
    if overrides:
        document["overrides"] = overrides
    p.decisions.append(ExpectedDecision(p.person_id, day, therapy, len(lines), document))


def _line_document(line: dict[str, Any], progressions: list[datetime.date], next_start: datetime.date) -> dict[str, Any]:
    out: dict[str, Any] = {"agents": line["agents"], "start": line["start"].isoformat(), "end": line["end"].isoformat()}
    if any(line["start"] <= d < next_start for d in progressions):  # each within days of the last dose
        out["stop_reason"] = "progression"
        out["refractory"] = True
    return out


def patients(n: int, seed: int = 20261201, first: int = 1) -> Iterator[Patient]:
    """``n`` synthetic patients, person ids from ``first``, the same for the same seed."""
    rng = random.Random(seed)
    approved = _approved()
    for i in range(first, first + n):
        yield patient(i, rng, approved)


# --- writers ---------------------------------------------------------------------------------

def _chunks(source: Iterator[Patient], size: int) -> Iterator[tuple[dict[str, list[tuple[Any, ...]]], list[ExpectedDecision]]]:
    """Rows of ``size`` patients at a time, by table, with their decisions."""
    while True:
        batch = [p for _, p in zip(range(size), source)]
        if not batch:
            return
        rows = {t: [r for p in batch for r in p.rows[t]] for t in batch[0].rows}
        yield rows, [d for p in batch for d in p.decisions]


def _arrow(table: str, rows: list[tuple[Any, ...]]) -> Any:
    """The rows as an Arrow table with every column of the official DDL (those not written: null)."""
    import pyarrow as pa

    given = {c: i for i, c in enumerate(COLUMNS[table])}
    columns = {}
    for column in cdm.tables()[table]:
        values = [r[given[column.name]] for r in rows] if column.name in given else [None] * len(rows)
        columns[column.name] = pa.array(values, type=_arrow_type(column.type))
    return pa.table(columns)


def _arrow_type(ddl_type: str) -> Any:
    import pyarrow as pa

    kinds = {"integer": pa.int32(), "date": pa.date32(), "timestamp": pa.timestamp("us"), "numeric": pa.float64(),
             "float": pa.float64()}
    return kinds.get(ddl_type.lower(), pa.string())


def write_duckdb(path: Path, n: int, seed: int = 20261201, chunk: int = 2000) -> list[ExpectedDecision]:
    """A DuckDB file holding the synthetic CDM; returns the expected decisions."""
    import duckdb

    with duckdb.connect(str(path)) as db:
        for statement in cdm.statements("duckdb"):
            db.execute(statement)

        def write(table: str, rows: list[tuple[Any, ...]]) -> None:
            db.register("synthetic_rows", _arrow(table, rows))
            db.execute(f"INSERT INTO {table} SELECT * FROM synthetic_rows")
            db.unregister("synthetic_rows")

        return _write(write, n, seed, chunk)


def write_parquet(folder: Path, n: int, seed: int = 20261201, chunk: int = 2000) -> list[ExpectedDecision]:
    """A folder with one Parquet folder per CDM table (``drug_exposure/part-0.parquet`` ...)."""
    import pyarrow.parquet as pq

    counters = dict.fromkeys(COLUMNS, 0)

    def write(table: str, rows: list[tuple[Any, ...]]) -> None:
        (folder / table).mkdir(parents=True, exist_ok=True)
        data = _arrow(table, rows) if table in COLUMNS else _empty(table)
        pq.write_table(data, folder / table / f"part-{counters[table]:05d}.parquet")
        counters[table] += 1

    expected = _write(write, n, seed, chunk)
    for table in (*COLUMNS, "episode", "episode_event"):
        if not counters.get(table):  # an empty table is still a table
            counters[table] = 0
            write(table, [])
    return expected


def write_postgres(url: str, n: int, seed: int = 20261201, chunk: int = 2000) -> list[ExpectedDecision]:
    """The synthetic CDM in a PostgreSQL database (its tables dropped and created anew)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        for table in cdm.tables("postgresql"):
            db.execute(f"DROP TABLE IF EXISTS {table}".encode())
        for statement in cdm.statements("postgresql"):
            db.execute(statement.encode())

        def write(table: str, rows: list[tuple[Any, ...]]) -> None:
            with db.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN".encode()) as copy:
                for row in rows:
                    copy.write_row(row)

        expected = _write(write, n, seed, chunk)
        for table in ("condition_occurrence", "drug_exposure", "procedure_occurrence", "observation", "measurement"):
            db.execute(f"CREATE INDEX ON {table} (person_id)".encode())
        db.execute(b"CREATE INDEX ON concept_ancestor (descendant_concept_id)")
        db.execute(b"ANALYZE")
        return expected


def _empty(table: str) -> Any:
    import pyarrow as pa

    return pa.table({c.name: pa.array([], type=_arrow_type(c.type)) for c in cdm.tables()[table]})


def _write(write: Any, n: int, seed: int, chunk: int) -> list[ExpectedDecision]:
    for table, concepts in vocabulary().items():
        write(table, concepts)
    expected: list[ExpectedDecision] = []
    for rows, decisions in _chunks(patients(n, seed), chunk):
        for table, table_rows in rows.items():
            if table_rows:
                write(table, table_rows)
        expected += decisions
    return expected


def batch_document(decision: ExpectedDecision, evaluator: Any) -> dict[str, Any]:
    """The decision's document as ``mmsequence batch`` takes it: an override the CDM records for a
    rule that did not fire for the therapy given is left out, and the comment says so. (The audit
    reads such a record, does not use it and warns; ``batch`` refuses a document that overrides a
    rule that did not fire.)"""
    from ..history import parse_document

    document = decision.document
    overrides = document.get("overrides", [])
    if not overrides:
        return document
    plain = {k: v for k, v in document.items() if k != "overrides"}
    fired = {f.rule for f in evaluator.evaluate(parse_document(plain)).candidate(decision.therapy).findings}
    kept = [o for o in overrides if o["rule"] in fired]
    if len(kept) == len(overrides):
        return document
    dropped = ", ".join(o["rule"] for o in overrides if o["rule"] not in fired)
    return {**plain, **({"overrides": kept} if kept else {}),
            "comment": f"The CDM records an override of {dropped}, a rule that did not fire for {decision.therapy};"
                       " the audit does not use it."}


def synthetic_policy_path() -> Path:
    """The policy that maps the synthetic concepts (shipped beside this module)."""
    return Path(__file__).with_name("synthetic-policy.yaml")
