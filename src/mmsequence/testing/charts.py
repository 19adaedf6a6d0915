"""Realistic charts: a patient's clean history, and the same history as an EHR writes it in FHIR.

``realistic_charts()`` draws pairs ``(document, bundle)``. The document is the history a
clinician would write: lines of therapy by the IMWG definition, the transplant pathway as one
line, a CAR-T as one infusion with its T-cell collection. The Bundle records the same care as a
chart does: every drug of every line as its own statement (coded by RxNorm alone where the
catalog has the code, else by a brand or generic name), induction with stem-cell mobilisation
(G-CSF, plerixafor), a stem-cell harvest, melphalan conditioning and the transplant, maintenance,
stop reasons in ``statusReason``, disease-status progressions, lymphodepletion before a CAR-T,
premedication and CRS management around TCRT doses, G-CSF in the middle of a bsAb course, and
supportive orders without end dates (antivirals, antibiotics, anticoagulants, antiemetics, bone
agents, IVIG). Dates keep the precision the document gives them.

With ``common_drugs``, the chart also holds drugs of the patient's other conditions that the
catalog does not know (statins, antihypertensives, antibiotics, contraceptives ...), by name or as
RxNorm clinical and branded drug names, ordered, stopped without an end date, given or taken at any
time of the course.

The metamorphic property (``tests/test_charts.py``): the noisy chart gives the same verdicts,
wait dates and prior-line count as the clean document.
"""

from __future__ import annotations

import datetime
from typing import Any

import hypothesis.strategies as st

from ..catalog import load_catalog

SITE_ELIGIBILITY = "urn:mmsequence:example|CART-ELIG"
#: The policy keys a chart needs so that the FHIR path reads what the document says.
POLICY = {"observations": {"car_t_eligible": [SITE_ELIGIBILITY]}}

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_DAY = datetime.timedelta(days=1)
INDUCTIONS = (("bortezomib", "lenalidomide", "dexamethasone"),
              ("daratumumab", "bortezomib", "lenalidomide", "dexamethasone"),
              ("isatuximab", "carfilzomib", "lenalidomide", "dexamethasone"))
REGIMENS = (("carfilzomib", "pomalidomide", "dexamethasone"), ("daratumumab", "pomalidomide", "dexamethasone"),
            ("isatuximab", "pomalidomide", "dexamethasone"), ("selinexor", "bortezomib", "dexamethasone"),
            ("elotuzumab", "pomalidomide", "dexamethasone"), ("carfilzomib", "cyclophosphamide", "dexamethasone"),
            ("belantamab mafodotin", "bortezomib", "dexamethasone"))
BSABS = ("teclistamab", "elranatamab", "talquetamab", "linvoseltamab")
CAR_TS = ("ciltacabtagene autoleucel", "idecabtagene vicleucel")
#: Drugs of other conditions, none in the catalog and none antineoplastic: names, and RxNorm clinical
#: (SCD), branded (SBD) and pack (BPCK) names as EHRs send them.
COMMON_DRUGS = ("atorvastatin", "simvastatin", "lisinopril", "amlodipine", "metoprolol", "metformin", "levothyroxine",
                "galantamine", "sertraline", "ibuprofen", "naproxen", "insulin glargine",
                "Atorvastatin 20 MG Oral Tablet", "Lisinopril 10 MG Oral Tablet", "Hydrochlorothiazide 25 MG Oral Tablet",
                "24 HR Metoprolol succinate 100 MG Extended Release Oral Tablet [Toprol]",
                "Amoxicillin 875 MG / Clavulanate 125 MG Oral Tablet [Augmentin]",
                "{28 (Ethinyl Estradiol 0.03 MG / Levonorgestrel 0.15 MG Oral Tablet) } Pack [Levora]",
                "NDA020503 200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "Ibuprofen 400 MG Oral Tablet",
                "Galantamine 4 MG Oral Tablet", "Sertraline 50 MG Oral Tablet", "Nitrofurantoin 100 MG Oral Capsule",
                "Cefuroxime 250 MG Oral Tablet", "0.5 ML Medroxyprogesterone acetate 150 MG/ML Injection")
SUPPORTIVE = ("acyclovir", "valacyclovir", "Bactrim DS", "levofloxacin", "fluconazole", "aspirin", "apixaban",
              "enoxaparin", "ondansetron", "pantoprazole", "famotidine", "allopurinol", "Zometa", "denosumab",
              "oxycodone", "senna")


def _concept(name: str, rxnorm_only: bool) -> dict[str, Any]:
    """The drug as a chart codes it: its RxNorm code alone where the catalog has one, else its text."""
    agent = load_catalog().lookup(name)
    codes = [c for c in agent.codes if c.system == "RxNorm"] if agent else []
    if rxnorm_only and codes:
        return {"coding": [{"system": RXNORM, "code": codes[0].code}]}
    return {"text": name}


class _Chart:
    def __init__(self) -> None:
        self.resources: list[dict[str, Any]] = [
            {"resourceType": "Patient", "id": "p"},
            {"resourceType": "Condition", "id": "dx", "subject": {"reference": "Patient/p"},
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C90.00"}]}},
        ]

    def add(self, kind: str, **fields: Any) -> None:
        self.resources.append({"resourceType": kind, "id": f"r{len(self.resources)}",
                               "subject": {"reference": "Patient/p"}, **fields})

    def statement(self, concept: dict[str, Any], start: str, end: str | None, reason: str | None = None) -> None:
        extra = {"statusReason": [{"text": reason}]} if reason else {}
        period = {"start": start, **({"end": end} if end else {})}
        self.add("MedicationStatement", status="completed" if end else "active", medicationCodeableConcept=concept,
                 effectivePeriod=period, **extra)

    def given(self, text: str, day: datetime.date) -> None:
        self.add("MedicationAdministration", status="completed", medicationCodeableConcept={"text": text},
                 effectiveDateTime=day.isoformat())

    def order(self, text: str, day: datetime.date) -> None:
        """A supportive order still active: no end date."""
        self.add("MedicationRequest", status="active", intent="order", medicationCodeableConcept={"text": text},
                 authoredOn=day.isoformat())

    def procedure(self, text: str, day: datetime.date, **extra: Any) -> None:
        self.add("Procedure", status="completed", code={"text": text}, performedDateTime=day.isoformat(), **extra)

    def progression(self, day: datetime.date) -> None:
        self.add("Observation", status="final", code={"coding": [{"system": "http://loinc.org", "code": "97509-4"}]},
                 effectiveDateTime=day.isoformat(),
                 valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "271299001"}]})

    def bundle(self, timestamp: datetime.date) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "collection", "timestamp": f"{timestamp.isoformat()}T08:00:00Z",
                "entry": [{"fullUrl": f"urn:uuid:chart-{i}", "resource": r} for i, r in enumerate(self.resources)]}


def _other_conditions(draw: st.DrawFn, chart: _Chart, first: datetime.date, as_of: datetime.date) -> None:
    """Drugs of the patient's other conditions, at any time from before the first line to ``as_of``."""
    span = (as_of - first).days + 3 * 365
    for name in draw(st.lists(st.sampled_from(COMMON_DRUGS), min_size=1, max_size=8)):
        day = first - 3 * 365 * _DAY + draw(st.integers(0, span)) * _DAY
        how = draw(st.sampled_from(("order", "stopped", "statement", "given")))
        concept = {"text": name}
        if how == "order":
            chart.order(name, day)
        elif how == "stopped":  # stopped, no end date recorded
            chart.add("MedicationRequest", status="stopped", intent="order", medicationCodeableConcept=concept,
                      authoredOn=day.isoformat())
        elif how == "statement":
            chart.statement(concept, day.isoformat(), (day + draw(st.integers(1, 400)) * _DAY).isoformat())
        else:
            chart.add("MedicationAdministration", status="completed", medicationCodeableConcept=concept,
                      effectiveDateTime=day.isoformat())


def _write(day: datetime.date, month_only: bool) -> str:
    return day.isoformat()[:7] if month_only else day.isoformat()


@st.composite
def realistic_charts(draw: st.DrawFn, max_lines: int = 5, common_drugs: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """A clean patient-history document and the FHIR Bundle an EHR would hold for it (``common_drugs``:
    with drugs of other conditions as well)."""
    chart, lines, apheresis = _Chart(), [], []
    day = first = draw(st.dates(datetime.date(2014, 1, 1), datetime.date(2020, 12, 31)))
    rxnorm_only = draw(st.booleans())
    noise = draw(st.lists(st.sampled_from(SUPPORTIVE), max_size=5, unique=True))
    for name in noise:  # supportive care ordered with the first line, never stopped
        chart.order(name, day)
    count = draw(st.integers(1, max_lines))
    kinds = [draw(st.sampled_from(("conventional", "conventional", "bsab", "car-t"))) for _ in range(count - 1)]
    last = None
    for i, kind in enumerate(["induction", *kinds]):
        final = i == count - 1
        month_only = draw(st.booleans()) and kind in ("conventional", "induction")
        if kind == "car-t":
            lead = draw(st.integers(21, 60))
            collection, infusion = day, day + lead * _DAY
            product = draw(st.sampled_from(CAR_TS))
            chart.procedure("Leukapheresis for CAR-T manufacturing", collection)
            apheresis.append({"status": "done", "date": collection.isoformat()})
            for offset in (5, 4, 3):
                chart.given("fludarabine 30 mg/m2", infusion - offset * _DAY)
                chart.given("cyclophosphamide 300 mg/m2", infusion - offset * _DAY)
            chart.procedure("CAR-T cell infusion", infusion, usedCode=[_concept(product, rxnorm_only)])
            if draw(st.booleans()):
                chart.given("tocilizumab 8 mg/kg", infusion + 2 * _DAY)
                chart.given("dexamethasone 10 mg IV", infusion + 3 * _DAY)
            lines.append({"agents": [product], "start": infusion.isoformat()})
            last, day = infusion, infusion + draw(st.integers(60, 400)) * _DAY
            continue
        start = day
        duration = draw(st.integers(60, 700))
        end = start + duration * _DAY
        ongoing = final and draw(st.booleans())
        if kind == "bsab":
            agents = [draw(st.sampled_from(BSABS))]
        else:
            agents = list(draw(st.sampled_from(INDUCTIONS if kind == "induction" else REGIMENS)))
        transplant = kind == "induction" and draw(st.booleans())
        written_start, written_end = _write(start, month_only), None if ongoing else _write(end, month_only)
        reason = None if ongoing else "Disease progression"
        if transplant:  # induction, mobilisation, harvest, conditioning, ASCT, then maintenance
            induction_end = start + min(duration, 150) * _DAY
            mobilised = induction_end + 20 * _DAY
            for agent in agents:
                chart.statement(_concept(agent, rxnorm_only), written_start, _write(induction_end, month_only))
            for k in range(4):
                chart.given("filgrastim 10 mcg/kg", mobilised + k * _DAY)
            chart.given("Mozobil 24 mg", mobilised + 3 * _DAY)
            chart.procedure("Peripheral blood stem cell collection (apheresis)", mobilised + 4 * _DAY)
            asct = mobilised + 30 * _DAY
            chart.given("melphalan 200 mg/m2", asct - 2 * _DAY)
            chart.procedure("Autologous stem cell transplant", asct)
            maintenance = asct + 90 * _DAY
            end = max(end, maintenance + 30 * _DAY)
            written_end = None if ongoing else _write(end, month_only)
            chart.statement(_concept("lenalidomide", rxnorm_only), maintenance.isoformat(), written_end, reason)
            if "lenalidomide" not in agents:
                agents.append("lenalidomide")
        else:
            for agent in agents:
                chart.statement(_concept(agent, rxnorm_only), written_start, written_end, reason)
        if kind == "bsab":
            chart.given("dexamethasone 16 mg (premedication)", start)
            chart.given("acetaminophen 650 mg", start)
            if draw(st.booleans()):
                chart.given("tocilizumab 8 mg/kg", start + 2 * _DAY)
            if duration > 40:
                chart.given("Neupogen 480 mcg", start + 30 * _DAY)
        if not ongoing and kind != "bsab" and draw(st.booleans()):
            chart.progression(end - 5 * _DAY)
        line = {"agents": agents, "start": written_start}
        if written_end is not None:
            line |= {"end": written_end, "stop_reason": "progression"}
        lines.append(line)
        last = end
        day = end + draw(st.integers(30, 300)) * _DAY
        if month_only:  # the next line starts in a later month than this one ends
            day = max(day, (end.replace(day=1) + 32 * _DAY).replace(day=1) + 14 * _DAY)
        if draw(st.booleans()):
            chart.order("IVIG 0.4 g/kg monthly", end)
    as_of = (last or day) + draw(st.integers(1, 400)) * _DAY
    eligible = draw(st.sampled_from([True, False, None]))
    if eligible is not None:
        chart.add("Observation", status="final",
                  code={"coding": [{"system": SITE_ELIGIBILITY.split("|")[0], "code": SITE_ELIGIBILITY.split("|")[1]}]},
                  effectiveDateTime=as_of.isoformat(), valueBoolean=eligible)
    if common_drugs:
        _other_conditions(draw, chart, first, as_of)
    document: dict[str, Any] = {"patient_id": "p", "as_of": as_of.isoformat(), "car_t_eligible": eligible,
                                "lines": lines}
    if apheresis:
        document["apheresis"] = apheresis
    return document, chart.bundle(as_of)
