"""Notices: what mmsequence tells a reader beside the verdicts (data warnings, line summaries, how a
line was formed, drug roles), each as a stable ``code``, the ``path`` it is about (a document field
or a record) and its ``values``.

A notice becomes words in one place, :func:`words`, through the gettext catalogs: the message
context is the code, the message id the English template (``locale/*/LC_MESSAGES``; English needs
no catalog). A :class:`Notice` is also its English text (a ``str``), so that the JSON output, the
FHIR import and every English output keep their words, while a program reads ``code`` and
``values`` and never the English.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .dates import PartialDate

if TYPE_CHECKING:
    from .catalog import Catalog

#: The language of the templates (and of every output by default).
ENGLISH = "en"


def NP_(context: str, message: str) -> str:
    """Marks a word that is translated at run time with ``pgettext(context, word)``, for extraction."""
    return message


#: The English template of each code; ``{path}`` in a template places the path, else a notice with
#: a ``subject`` value (a notice) or a path is said ``subject: message``. A value is a str, an int,
#: a date, a notice or a tuple of them.
TEMPLATES: dict[str, str] = {
    # drug roles (catalog.ROLES), in words
    "role.anti-myeloma": NP_("role.anti-myeloma", "anti-myeloma therapy"),
    "role.conditioning": NP_("role.conditioning", "transplant conditioning"),
    "role.lymphodepletion": NP_("role.lymphodepletion", "lymphodepletion before a CAR-T infusion"),
    "role.crs-management": NP_("role.crs-management", "CRS or ICANS management"),
    "role.premedication": NP_("role.premedication", "premedication"),
    "role.supportive": NP_("role.supportive", "supportive care"),
    "role.other": NP_("role.other", "another drug"),  # uncatalogued, nothing says antineoplastic (fhir.coding.NOT_THERAPY)
    "role.corticosteroid-alone": NP_("role.corticosteroid-alone", "a corticosteroid alone, outside any line of therapy"),
    "role.by-atc": NP_("role.by-atc", "{role} (by its ATC code {atc})"),
    "role.by-name": NP_("role.by-name", "{role} (not in the catalog; neither its codes nor its name say antineoplastic)"),
    # how a line was formed (lines.py, fhir/lines.py)
    "line.derived": NP_("line.derived", "derived: line {number}: {reason}"),
    "line.bridging": NP_("line.bridging", "{reason} (bridging)"),
    "line.extension": NP_("line.extension", "extension: the site recorded line {number}"),
    "line.car-t-infusion": NP_("line.car-t-infusion", "CAR-T infusion of {drug} ({date}, {record})"),
    "line.transplant": NP_("line.transplant", "autologous stem-cell transplant ({date}, {record})"),
    "line.transplant-planned": NP_("line.transplant-planned",
                                   "{reason}; autologous stem-cell transplant {date} ({record}) planned with it"),
    "line.first": NP_("line.first", "the first anti-myeloma therapy recorded ({drug}, {date})"),
    "line.after-progression": NP_("line.after-progression",
                                  "progression recorded {progression} ({record}); {drug} started {date}"),
    "line.after-stop": NP_("line.after-stop", "{stopped} stopped for {stop} ({record}); {drug} started {date}"),
    "line.after-car-t": NP_("line.after-car-t", "the first therapy after a CAR-T infusion ({drug}, {date})"),
    "line.resumed": NP_("line.resumed", "treatment resumed: {drug} restarted {date}, {days} days after the last dose"
                                        " (a planned pause ended)"),
    "line.plan-changed": NP_("line.plan-changed",
                             "the plan changed: {drug} started {date}, after the regimen of line {number} was set"),
    "line.bridging-only": NP_("line.bridging-only", "{drug} started {date} after the T-cell collection; no CAR-T"
                                                    " infusion recorded yet"),
    "line.part": NP_("line.part", "{reason}; {part}: {drug} {date} ({record})"),
    "line.progression": NP_("line.progression", "{reason}; progression recorded {date} ({record})"),
    "part.conditioning": NP_("part.conditioning", "conditioning"),
    "part.lymphodepletion": NP_("part.lymphodepletion", "lymphodepletion"),
    "part.collection": NP_("part.collection", "collection"),
    "part.bridging": NP_("part.bridging", "bridging"),
    # a line of therapy in words (course.PatientCourse.line_summaries)
    "summary.line": NP_("summary.line", "{number}. {start} to {end}: {agents}"),
    "summary.ongoing": NP_("summary.ongoing", "{number}. {start} to ongoing: {agents}"),
    "summary.infusion": NP_("summary.infusion", "{number}. {start} (infusion): {agents}"),
    "summary.stopped": NP_("summary.stopped", "{summary}; stopped for {stop}"),
    "summary.progression": NP_("summary.progression", "{summary}; progression {date}"),
    "summary.why": NP_("summary.why", "{summary} ({why})"),
    "stop.progression": NP_("stop.progression", "progression"),
    "stop.toxicity": NP_("stop.toxicity", "toxicity"),
    "stop.completed": NP_("stop.completed", "completed"),
    "stop.patient-choice": NP_("stop.patient-choice", "patient-choice"),
    "stop.other": NP_("stop.other", "other"),
    # data warnings of the course (course.py, lines.py)
    "course.not-in-catalog": NP_("course.not-in-catalog", "not in the agent catalog"),
    "subject.line-agent": NP_("subject.line-agent", "{drug} ({path})"),
    "subject.candidate": NP_("subject.candidate", "candidate {drug}"),
    "course.not-a-line": NP_("course.not-a-line", "holds no anti-myeloma drug ({agents}); not counted as a line"),
    "course.steroid-not-a-line": NP_("course.steroid-not-a-line",
                                     "holds only a corticosteroid ({agents}); not counted as a line"),
    "course.planned-apheresis-past": NP_("course.planned-apheresis-past",
                                         "planned for '{date}', before {field} {as_of}; treated as pending with no date"),
    "field.as_of": NP_("field.as_of", "as_of"),
    "field.as_of.words": NP_("field.as_of.words", "the evaluation date"),
    "place.line": NP_("place.line", "line {number}"),
    "place.apheresis": NP_("place.apheresis", "apheresis {number}"),
    "place.candidate": NP_("place.candidate", "candidate {number}"),
    "place.entry": NP_("place.entry", "FHIR entry {number}"),
    "course.refractory-conflict": NP_("course.refractory-conflict",
                                      "recorded {recorded}, but the progression on '{date}' came {when}, so the line is"
                                      " {verdict} by the IMWG definition; the recorded value is used"),
    "course.relapsed": NP_("course.relapsed",
                           "the progression on '{date}' came {when}; by the IMWG definition the line counts as relapsed,"
                           " not refractory (for information: its stop reason 'progression' is kept)"),
    "when.given": NP_("when.given", "while it was still given"),
    "when.within": NP_("when.within", "within {days} days after the last dose ({date})"),
    "when.more-than": NP_("when.more-than", "more than {days} days after the last dose ({date})"),
    "refractory.true": NP_("refractory.true", "refractory"),
    "refractory.false": NP_("refractory.false", "not refractory"),
    "recorded.true": NP_("recorded.true", "true"),
    "recorded.false": NP_("recorded.false", "false"),
    "lines.no-infusion": NP_("lines.no-infusion", "{drug} is {role} but no {what} infusion follows within {days} days;"
                                                  " not counted in a line"),
    "infusion.stem-cell": NP_("infusion.stem-cell", "stem-cell"),
    "infusion.car-t": NP_("infusion.car-t", "CAR-T"),
    "lines.open-end": NP_("lines.open-end", "{drug} has no end date; its last dose is taken to be no later than the"
                                           " start of line {number} ({date})"),
    "lines.open-end-progression": NP_("lines.open-end-progression",
                                      "{drug} has no end date; its last dose is taken to be no later than the start of"
                                      " line {number} ({date}) and no earlier than the progression recorded"
                                      " {progression}"),
    "lines.set-aside": NP_("lines.set-aside", "{drug} is {role}, not anti-myeloma therapy"),
    "lines.set-aside-atc": NP_("lines.set-aside-atc", "{drug} is {role} by its ATC code {atc}, not anti-myeloma therapy"),
    "lines.set-aside-note": NP_("lines.set-aside-note", "{drug} is {role}, not counted as a line"),
    # notes of the FHIR reader (fhir/*)
    "fhir.history-comment": NP_("fhir.history-comment",
                                "Read from a FHIR Bundle; each line's comment says how it was formed."),
    "fhir.status-counted": NP_("fhir.status-counted",
                               "status {status!r} does not say whether it was given; counted as given"),
    "fhir.status-not-given": NP_("fhir.status-not-given", "not counted as given (status {status!r})"),
    "fhir.not-given": NP_("fhir.not-given", "not counted as given ({why})"),
    "fhir.car-t-order": NP_("fhir.car-t-order", "an order for {drug}, not its infusion (read from the infusion's Procedure"
                                                " or MedicationAdministration); links a leukapheresis to CAR-T"),
    "fhir.no-end": NP_("fhir.no-end", "{drug}: no end date recorded; counted as ongoing (the latest possible last dose)"),
    "fhir.intent": NP_("fhir.intent", "intent {intent!r}"),
    "fhir.status": NP_("fhir.status", "status {status!r}"),
    "fhir.unknown-agent": NP_("fhir.unknown-agent", "{drug!r} is not in the agent catalog; kept as an unknown agent"),
    "fhir.unknown-agent-why": NP_("fhir.unknown-agent-why",
                                  "{drug!r} is not in the agent catalog; kept as an unknown agent ({why})"),
    "fhir.harvest": NP_("fhir.harvest", "stem-cell harvest (for a transplant), not a T-cell collection; starts nothing"),
    "fhir.leukapheresis-unnamed": NP_("fhir.leukapheresis-unnamed",
                                      "leukapheresis that names neither CAR-T, T cells nor a CAR-T product and is not"
                                      " linked to a CAR-T order; not read as a T-cell collection"),
    "fhir.leukapheresis-status": NP_("fhir.leukapheresis-status", "leukapheresis not used (status {status!r})"),
    "fhir.unknown-product": NP_("fhir.unknown-product",
                                "CAR-T product {drug!r} is not in the agent catalog; kept as an unknown agent"),
    "fhir.harvest-request": NP_("fhir.harvest-request",
                                "not used (a stem-cell harvest for a transplant, not a T-cell collection)"),
    "fhir.leukapheresis-request-status": NP_("fhir.leukapheresis-request-status",
                                             "leukapheresis request not used (status {status!r}; a collection"
                                             " that took place is read from its Procedure)"),
    "fhir.activity-status": NP_("fhir.activity-status", "leukapheresis activity not used (status {status!r})"),
    "fhir.diagnosis-refuted": NP_("fhir.diagnosis-refuted", "multiple myeloma diagnosis not used (verification {codes})"),
    "fhir.observation-status": NP_("fhir.observation-status", "not used (status {status!r})"),
    "fhir.not-progression": NP_("fhir.not-progression", "disease status is not progression; not used"),
    "fhir.order-read-through": NP_("fhir.order-read-through",
                                   "the order for {drug} ({start} to {end}) is read through its {count} administration(s)"
                                   " given; the last dose is {date} ({record})"),
    "fhir.missing-lines": NP_("fhir.missing-lines", "line-of-therapy extension: no resource in the bundle for line"
                                                    " {numbers}; the history holds only the lines present"),
    "fhir.not-used-one": NP_("fhir.not-used-one", "not used (1 record that says nothing about myeloma therapy): {counts};"
                                                  " each is listed under derived.fhir.not_used (--verbose)"),
    "fhir.not-used": NP_("fhir.not-used", "not used ({count} records that say nothing about myeloma therapy): {counts};"
                                          " each is listed under derived.fhir.not_used (--verbose)"),
    "fhir.count": NP_("fhir.count", "{count} {kind}"),
    "fhir.other-drugs": NP_("fhir.other-drugs", "{count} other drug(s), not in the catalog and with nothing antineoplastic"
                                                " in their codes or names, are not anti-myeloma therapy (never a line):"
                                                " {names}; each is listed under derived.not_anti_myeloma_therapy"),
    "fhir.other-drugs-more": NP_("fhir.other-drugs-more",
                                 "{count} other drug(s), not in the catalog and with nothing antineoplastic in their codes"
                                 " or names, are not anti-myeloma therapy (never a line): {names} and {more} more;"
                                 " each is listed under derived.not_anti_myeloma_therapy"),
    "fhir.left-out": NP_("fhir.left-out", "left out, not valid FHIR ({why}); it says nothing about myeloma therapy"),
    "unused.type": NP_("unused.type", "mmsequence does not read {kind} resources"),
    "unused.not-given": NP_("unused.not-given", "a drug that is not anti-myeloma therapy, not given ({why})"),
    "unused.bad-date": NP_("unused.bad-date", "{drug}: a drug that is not anti-myeloma therapy; {problem}"),
    "unused.no-date": NP_("unused.no-date", "{drug}: a drug that is not anti-myeloma therapy, without a date"),
    "unused.procedure": NP_("unused.procedure", "neither a CAR-T infusion, a transplant nor a leukapheresis"),
    "unused.request": NP_("unused.request", "not a leukapheresis request"),
    "unused.care-plan": NP_("unused.care-plan", "a care plan with status {status!r}"),
    "unused.activity": NP_("unused.activity", "no leukapheresis activity with a detail"),
    "unused.condition": NP_("unused.condition", "not a multiple myeloma diagnosis"),
    "unused.observation": NP_("unused.observation", "its code is not one the site policy maps under observations"),
    "unused.medication": NP_("unused.medication", "no administration, statement or request refers to it"),
    "fhir.deceased": NP_("fhir.deceased", "deceased {date}"),
    "fhir.deceased-undated": NP_("fhir.deceased-undated", "deceased"),
    # records that are not drugs (lines.Event names)
    "event.stem-cell-harvest": NP_("event.stem-cell-harvest", "stem-cell harvest"),
    "event.stem-cell-infusion": NP_("event.stem-cell-infusion", "autologous stem-cell transplant"),
    "event.t-cell-collection": NP_("event.t-cell-collection", "T-cell collection"),
    "event.progression": NP_("event.progression", "progression"),
    # the myeloma gate (gate.Gate.reason, by its basis)
    "gate.diagnosis": NP_("gate.diagnosis", "a multiple myeloma diagnosis is recorded"),
    "gate.document": NP_("gate.document", "a patient-history document is a myeloma history by construction"),
    "gate.cohort": NP_("gate.cohort", "an OMOP chart of the myeloma cohort (selected by its multiple myeloma concept)"),
    "gate.caller": NP_("gate.caller", "assessed on the caller's word (the myeloma gate is off)"),
    "gate.no-diagnosis": NP_("gate.no-diagnosis", "the record holds no multiple myeloma diagnosis (ICD-10 C90.0, SNOMED CT"
                                                  " 109989006, or the words); mmsequence assesses only myeloma patients"),
    "gate.death": NP_("gate.death", "the record says the patient died"),
    # notes of the OMOP reader (omop/*)
    "omop.no-site-lines": NP_("omop.no-site-lines", "no site line episode for this person: lines derived by the IMWG"
                                                    " definition"),
    "omop.before-site-lines": NP_("omop.before-site-lines",
                                  "before the site's first line episode ({date}); read as a line of their own"),
    "omop.site-line": NP_("omop.site-line", "site line episode {number} ({date}, {text})"),
    "omop.empty-site-line": NP_("omop.empty-site-line", "no record of the chart in it"),
    "omop.line-before-site": NP_("omop.line-before-site", "records before the site's first line episode"),
    "omop.site-line-reason": NP_("omop.site-line-reason", "site line episode {number} ({text})"),
    "omop.no-source-value": NP_("omop.no-source-value", "no source value"),
    "omop.override-not-used": NP_("omop.override-not-used", "{problem}; override not used"),
    "omop.end-before-start": NP_("omop.end-before-start", "end {end} before start {start}; read as one day"),
    "omop.override-of": NP_("omop.override-of", "override of {rule}"),
    "omop.override-not-fired": NP_("omop.override-not-fired", "the rule did not fire for {drug}; not used"),
    # a draft order's defect that does not touch its drug (service.hooks)
    "hooks.draft-defect": NP_("hooks.draft-defect", "a defect not bearing on the drug was left aside ({problem})"),
    # problems of a patient-history document (history.py): the CLI, the JSON and HTTP answers say them
    "input.expected-object": NP_("input.expected-object", "expected an object, got {type}"),
    "input.unknown-field": NP_("input.unknown-field", "unknown field"),
    "input.required": NP_("input.required", "is required"),
    "input.expected-text": NP_("input.expected-text", "expected a non-empty string, got {value}"),
    "input.not-unicode": NP_("input.not-unicode", "is not valid Unicode text (it holds a lone surrogate)"),
    "input.not-one-of": NP_("input.not-one-of", "{value!r} is not one of {choices}"),
    "input.expected-flag": NP_("input.expected-flag", "expected true, false or null, got {value}"),
    "input.expected-number": NP_("input.expected-number", "expected a non-negative number, got {value}"),
    "input.date-required": NP_("input.date-required", "is required (a date, not null)"),
    "input.not-a-date": NP_("input.not-a-date", "{value} is not a date"),
    "input.date": NP_("input.date", "{problem}"),
    "input.full-date": NP_("input.full-date", "{value!r} must be a full date (YYYY-MM-DD)"),
    "input.expected-names": NP_("input.expected-names", "expected a non-empty list of names, got {value}"),
    "input.expected-names-or-none": NP_("input.expected-names-or-none", "expected a list of names, got {value}"),
    "input.expected-list": NP_("input.expected-list", "expected a list, got {type}"),
    "input.expected-candidates": NP_("input.expected-candidates",
                                     "expected a non-empty list of names or regimens, got {value}"),
    "input.regimen-agents": NP_("input.regimen-agents",
                                "a regimen holds at least two agents (name a single drug as a string)"),
    "input.end-before-start": NP_("input.end-before-start", "'{end}' is before start '{start}'"),
    "input.progression-before-start": NP_("input.progression-before-start",
                                          "'{progression}' is before start '{start}' (a progression on or after the"
                                          " line)"),
    "input.date-required-status": NP_("input.date-required-status", "is required when status is {status!r}"),
    "input.apheresis-order": NP_("input.apheresis-order", "'{date}' is before {earlier} '{earlier_date}' (records are"
                                                          " listed in the order they happened)"),
    "input.note-required": NP_("input.note-required", "is required when reason is 'other'"),
    "input.empty": NP_("input.empty", "is empty"),
    "input.version": NP_("input.version", "{value} is not a supported version (1)"),
    # a history inconsistent with its evaluation date or the catalog (course.py)
    "input.after-as-of": NP_("input.after-as-of", "'{date}' is after {field} {as_of}"),
    "input.car-t-end": NP_("input.car-t-end", "a CAR-T line is one infusion, so end must equal start '{start}'"),
    "input.apheresis-after-as-of": NP_("input.apheresis-after-as-of",
                                       "'{date}' is after {field} {as_of} but status is {status!r}"),
    "input.unordered-infusion": NP_("input.unordered-infusion",
                                    "'{date}' cannot be ordered against {apheresis} '{apheresis_date}': give the day of"
                                    " the infusion or of the collection"),
    "input.same-candidate": NP_("input.same-candidate", "{query!r} names the same therapy as {other}"),
    "input.empty-drug-name": NP_("input.empty-drug-name", "{query!r} has an empty drug name between its '+'"),
    "input.drug-twice": NP_("input.drug-twice", "{query!r} names one drug twice"),
    "input.car-t-in-regimen": NP_("input.car-t-in-regimen",
                                  "{query!r} holds a CAR-T, which is given on its own, not in a regimen"),
    "input.regimen-name": NP_("input.regimen-name", "{name!r} is the regimen {regimen!r}, whose agents differ from"
                                                    " {agents}"),
    # problems of a FHIR Bundle (fhir/*)
    "fhir.line-number": NP_("fhir.line-number",
                            "a line-of-therapy number must be valueInteger or valuePositiveInt of at least 1"),
    "fhir.no-medication": NP_("fhir.no-medication", "{reference!r} is not a Medication in the bundle"),
    "fhir.medication-uncoded": NP_("fhir.medication-uncoded",
                                   "the Medication {reference!r} has neither a code nor an ingredient"),
    "fhir.drug-date": NP_("fhir.drug-date", "is required to place the drug in time"),
    "fhir.transplant-date": NP_("fhir.transplant-date", "a stem-cell infusion needs its date"),
    "fhir.leukapheresis-date": NP_("fhir.leukapheresis-date", "a {status} leukapheresis needs its date"),
    "fhir.infusion-date": NP_("fhir.infusion-date", "a CAR-T infusion needs its date"),
    "fhir.observation-date": NP_("fhir.observation-date", "a {kind} observation needs its date"),
    "fhir.soluble-bcma-unit": NP_("fhir.soluble-bcma-unit", "soluble BCMA needs a value in ng/mL (got {unit!r})"),
    "fhir.observation-flag": NP_("fhir.observation-flag", "a {kind} observation needs a yes or no value"),
    "observation.car_t_eligible": NP_("observation.car_t_eligible", "car t eligible"),
    "observation.bcma_loss": NP_("observation.bcma_loss", "bcma loss"),
    "observation.gprc5d_loss": NP_("observation.gprc5d_loss", "gprc5d loss"),
    "observation.fcrh5_loss": NP_("observation.fcrh5_loss", "fcrh5 loss"),
    "observation.soluble_bcma": NP_("observation.soluble_bcma", "soluble bcma"),
    "observation.disease_status": NP_("observation.disease_status", "disease status"),
    "fhir.second-patient": NP_("fhir.second-patient", "a second Patient; a bundle must hold one patient"),
    "fhir.patient-id": NP_("fhir.patient-id", "the Patient needs an id"),
    "fhir.other-patient": NP_("fhir.other-patient", "{id!r} is not the patient in context ({expected!r})"),
    "fhir.patients": NP_("fhir.patients", "holds no Patient resource and refers to {count} patients ({ids})"),
    "fhir.no-patient": NP_("fhir.no-patient", "holds no Patient resource and no reference to a patient"),
    "fhir.subject-required": NP_("fhir.subject-required", "is required to tell whose record this is"),
    "fhir.other-subject": NP_("fhir.other-subject", "{reference!r} is not the bundle's patient ({patient})"),
    "fhir.unresolved-subject": NP_("fhir.unresolved-subject",
                                   "{reference!r} names no entry of the bundle: a {scheme} reference names an entry by"
                                   " its fullUrl, and no entry has that fullUrl (the record's patient is {patient})"),
    "fhir.line": NP_("fhir.line", "line {number} ({records})"),
    "fhir.car-t-line": NP_("fhir.car-t-line",
                           "a CAR-T infusion must be a line of its own (bridging therapy is a line before it)"),
    "fhir.lines-out-of-order": NP_("fhir.lines-out-of-order", "{line} starts {start}, before {earlier} starts {date}"),
    # overrides and the evaluation date given to an evaluation (evaluator.py)
    "input.not-a-rule": NP_("input.not-a-rule", "{rule!r} is not a rule id"),
    "input.safety-rule": NP_("input.safety-rule", "{rule!r} is a safety rule and cannot be overridden"),
    "input.not-a-candidate": NP_("input.not-a-candidate", "{candidate!r} is not a candidate of this evaluation"),
    "input.rule-not-fired": NP_("input.rule-not-fired", "rule {rule!r} did not fire for {candidate!r}"),
    # a JSON text that cannot be read (documents.py)
    "json.duplicate-key": NP_("json.duplicate-key", "the key {key!r} is given twice in one object"),
    "json.not-utf-8": NP_("json.not-utf-8", "is not UTF-8 (byte {byte})"),
    "json.invalid-at": NP_("json.invalid-at", "invalid JSON at line {line} column {column}: {why}"),
    "json.invalid": NP_("json.invalid", "invalid JSON ({why})"),
    "json.unreadable": NP_("json.unreadable", "cannot be read ({why})"),
    "fhir.several-drugs": NP_("fhir.several-drugs", "names more than one drug ({drugs})"),
    "fhir.unnamed-drug": NP_("fhir.unnamed-drug", "has neither a text nor a code that names the drug"),
    "omop.override-text": NP_("omop.override-text", "{value!r} is not RULE:REASON[:NOTE]"),
    # one message several records share (fhir.importer)
    "places": NP_("places", "{places}"),
    "places-more": NP_("places-more", "{places} and {more} more"),
    # the knowledge's review (knowledge.py)
    "knowledge.catalog-due": NP_("knowledge.catalog-due",
                                 "knowledge: the agent catalog{which} was last checked against its sources on {date} and"
                                 " was due for review on {due}; on {day} it may be out of date (the verdicts are"
                                 " unchanged)"),
    "knowledge.rules-due": NP_("knowledge.rules-due",
                               "knowledge: the {pack} rules{which} were last checked against their sources on {date} and"
                               " were due for review on {due}; on {day} they may be out of date (the verdicts are"
                               " unchanged)"),
    "knowledge.which": NP_("knowledge.which", " ({entries})"),
}


class Notice(str):
    """A notice: its English text, with the ``code``, the ``path`` and the ``values`` it is made of."""

    __slots__ = ("code", "path", "values")
    code: str
    path: str | None
    values: dict[str, Any]

    def __new__(cls, code: str, path: str | None = None, /, **values: Any) -> Notice:
        notice = super().__new__(cls, _IN_ENGLISH.say(code, path, values))
        notice.code, notice.path, notice.values = code, path, values
        return notice

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (self.code, self.path, self.values)

    @property
    def place(self) -> str | Notice | None:
        """What the notice is said about before its message: its subject, else its path (None: neither)."""
        if "subject" in self.values:
            return self.values["subject"]  # type: ignore[no-any-return]
        return self.path if "{path}" not in TEMPLATES[self.code] else None

    @property
    def message(self) -> Notice:
        """The notice without its place (what several places may share)."""
        if self.place is None:
            return self
        return Notice(self.code, None, **{k: v for k, v in self.values.items() if k != "subject"})

    def to_dict(self) -> dict[str, Any]:
        """The code and the path, for a program (the JSON output)."""
        return {"code": self.code, "path": self.path}


def _rebuild(code: str, path: str | None, values: dict[str, Any]) -> Notice:
    return Notice(code, path, **values)


_DOCUMENT_PATH = re.compile(r"\b(lines|apheresis|candidates|entry)\[(\d+)\]((?:\.[A-Za-z_]+)*)")
#: A document path's list and a field in the words of a clinician (``clinical``), by code.
_PLACE_CODES = {"lines": "place.line", "apheresis": "place.apheresis", "candidates": "place.candidate",
                "entry": "place.entry"}
#: A field named in a message, in the words of a clinician (``clinical``): the code said instead.
_CLINICAL_FIELDS = {"field.as_of": "field.as_of.words"}


@attrs.frozen
class _Saying:
    """How notices are said: the language, the catalog that names drugs, and whether document paths
    and field names are said in a clinician's words (``lines[1].end`` as ``line 2 end``, cards)."""

    language: str
    catalog: Catalog | None = None
    clinical: bool = False

    def notice(self, notice: Notice) -> str:
        if self.language == ENGLISH and not self.clinical:
            return str(notice)
        return self.say(notice.code, notice.path, notice.values)

    def say(self, code: str, path: str | None, values: dict[str, Any]) -> str:
        english = self.language == ENGLISH
        if self.clinical:
            code = _CLINICAL_FIELDS.get(code, code)
        if english:
            template = TEMPLATES[code]
        else:
            from .i18n import translations  # the catalogs read the drug catalog, which reads documents' notices

            template = translations(self.language).pgettext(code, TEMPLATES[code])
        where = self.place(path) if path is not None else None
        text = template.format(path=where, **{k: self.value(v) for k, v in values.items() if k != "subject"})
        colon = ": " if english else "："
        if "subject" in values:
            return f"{self.value(values['subject'])}{colon}{text}"
        return f"{where}{colon}{text}" if where is not None and "{path}" not in TEMPLATES[code] else text

    def place(self, path: str) -> str:
        """A path as said: as it is, or in a clinician's words (``lines[1].end`` -> ``line 2 end``)."""
        def words(found: re.Match[str]) -> str:
            fields = " ".join(f.replace("_", " ") for f in found[3].split(".") if f)
            said = self.say(_PLACE_CODES[found[1]], None, {"number": int(found[2]) + 1})
            return said + (f" {fields}" if fields else "")

        return _DOCUMENT_PATH.sub(words, path) if self.clinical else path

    def value(self, value: Any) -> Any:
        """A value as the template formats it (a str, or the value itself, which ``!r`` may quote)."""
        if type(value) is str:  # the commonest value: said as it is in English, a drug's name otherwise
            return value if self.language == ENGLISH or self.catalog is None else self._drug(value)
        if isinstance(value, Notice):
            return self.notice(value)
        if isinstance(value, tuple):
            return (", " if self.language == ENGLISH else "、").join(str(self.value(v)) for v in value)
        if self.language == ENGLISH:
            return value
        from .i18n import format_date, format_when

        if isinstance(value, PartialDate):
            return format_when(value, self.language)
        if isinstance(value, datetime.date):
            return format_date(value, self.language)
        if isinstance(value, str) and self.catalog is not None:
            return self._drug(value)
        return value

    def _drug(self, name: str) -> str:
        assert self.catalog is not None
        agent = self.catalog.lookup(name)
        return agent.display_name(self.language) if agent is not None else name


#: How notices are said in English, as their text.
_IN_ENGLISH = _Saying(ENGLISH)


def words(notice: str, language: str = ENGLISH, catalog: Catalog | None = None, clinical: bool = False) -> str:
    """A notice in ``language``: its English text in English, else its code's message in the
    catalog with each value said in the language (dates as the reader writes them, drugs by their
    display names); ``clinical`` says document paths and field names in a clinician's words. A
    plain string is said as it is."""
    if not isinstance(notice, Notice):
        return str(notice)
    return _Saying(language, catalog, clinical).notice(notice)


def place_words(notice: Notice, language: str = ENGLISH, catalog: Catalog | None = None,
                clinical: bool = False) -> str | None:
    """What a notice is said about (:attr:`Notice.place`) in ``language``; None: nothing."""
    place = notice.place
    if place is None or isinstance(place, Notice):
        return None if place is None else _Saying(language, catalog, clinical).notice(place)
    return _Saying(language, catalog, clinical).place(place)


def is_other_drug(role: str) -> bool:
    """Whether a drug's role (a notice) is "another drug": uncatalogued, and nothing says antineoplastic."""
    while isinstance(role, Notice) and role.code != "role.other" and "role" in role.values:
        role = role.values["role"]
    return isinstance(role, Notice) and role.code == "role.other"


def codes(notices: Iterable[str]) -> list[dict[str, Any]]:
    """The code and path of each notice (a plain string has none)."""
    return [n.to_dict() if isinstance(n, Notice) else {"code": None, "path": None} for n in notices]
