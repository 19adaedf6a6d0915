"""The CDS services mmsequence offers, their prefetch templates, and reading a hook request.

``patient-view`` assesses every approved TCRT for the patient. ``order-select`` and
``order-sign`` assess the therapy being ordered: each draft MedicationRequest whose drug is in
the catalog and is not conventional therapy (bsAb, CAR-T, ADC, NK-cell engager); other drafts
get no card.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..catalog import Catalog
from ..errors import InputError
from ..fhir.model import validate_bundle
from ..fhir.records import LINE_EXTENSION, ResourceReader, medication_index
from ..notices import Notice
from .store import Feedback

_PATIENT = "{{context.patientId}}"

#: Prefetch key -> FHIR query template, without the Observations (see prefetch_templates).
_RECORD = {
    "patient": f"Patient/{_PATIENT}",
    "conditions": f"Condition?patient={_PATIENT}",
    "medicationAdministrations": f"MedicationAdministration?patient={_PATIENT}&_include=MedicationAdministration:medication",
    "medicationStatements": f"MedicationStatement?patient={_PATIENT}&_include=MedicationStatement:medication",
    "medicationRequests": f"MedicationRequest?patient={_PATIENT}&_include=MedicationRequest:medication",
    "procedures": f"Procedure?patient={_PATIENT}",
    "serviceRequests": f"ServiceRequest?patient={_PATIENT}",
    "carePlans": f"CarePlan?patient={_PATIENT}",
}


def prefetch_templates(observations: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Prefetch key -> FHIR query template; every key is needed (a missing one could hide a drug,
    a progression or an eligibility). ``observations`` are the site's Observation codes (the policy's
    ``observations``: mCODE disease status, LOINC 97509-4, by default): one search for all of them."""
    codes = sorted({code for kind_codes in observations.values() for code in kind_codes})
    if not codes:
        return dict(_RECORD)
    return {**_RECORD, "observations": f"Observation?patient={_PATIENT}&code={','.join(codes)}"}


def _default_templates() -> dict[str, str]:
    from ..policy import load_policy

    return prefetch_templates(load_policy().observation_codes())


#: The prefetch templates under the shipped policy.
PREFETCH = _default_templates()


@attrs.frozen
class Service:
    id: str
    hook: str
    title: str
    description: str

    def to_dict(self, prefetch: Mapping[str, str] = PREFETCH) -> dict[str, Any]:
        return {"hook": self.hook, "title": self.title, "description": self.description, "id": self.id,
                "prefetch": dict(prefetch)}


SERVICES = {s.id: s for s in (
    Service("mmsequence-patient-view", "patient-view", "T-cell redirecting therapy sequencing",
            "Ranks the approved bispecific antibodies and CAR-T therapies for a patient with relapsed multiple"
            " myeloma, with the rules that fired and their evidence."),
    Service("mmsequence-order-select", "order-select", "T-cell redirecting therapy order check",
            "Checks a bispecific antibody, CAR-T or BCMA antibody-drug conjugate being selected against the"
            " patient's prior therapy (interval, target, apheresis)."),
    Service("mmsequence-order-sign", "order-sign", "T-cell redirecting therapy order check at signing",
            "The same check as order-select, on the orders about to be signed."),
)}


@attrs.frozen
class Order:
    """A draft order for a drug mmsequence assesses: the drug's canonical name and the draft itself."""

    name: str
    request: Mapping[str, Any]

    @property
    def reference(self) -> str | None:
        """``MedicationRequest/{id}``, or None when the draft has no id."""
        rid = self.request.get("id")
        return f"MedicationRequest/{rid}" if isinstance(rid, str) and rid else None


@attrs.frozen
class HookRequest:
    """The parts of a CDS Hooks request the service uses."""

    hook: str
    hook_instance: str
    patient_id: str
    prefetch: Mapping[str, Any]
    fhir_server: str | None = None
    access_token: str | None = None
    draft_orders: Mapping[str, Any] | None = None
    selections: tuple[str, ...] = ()


MAX_ID_CHARS = 256


def _text(value: Any, path: str, problems: list[str], limit: int = MAX_ID_CHARS) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path}: expected a non-empty string")
        return None
    if len(value) > limit:
        problems.append(f"{path}: longer than {limit} characters")
        return None
    return value


def _bundle_shape(value: Any, path: str, problems: list[str]) -> bool:
    """Whether a Bundle's ``entry`` is a list of objects each with a resource object (FHIR validation
    comes later; this keeps malformed shapes from reaching it)."""
    entries = value.get("entry", [])
    if entries is None:
        return True
    if not isinstance(entries, list):
        problems.append(f"{path}.entry: expected a list")
        return False
    bad = [i for i, e in enumerate(entries) if not isinstance(e, dict) or not isinstance(e.get("resource", {}), dict)]
    problems.extend(f"{path}.entry[{i}]: expected an object with a resource object" for i in bad[:5])
    return not bad


def _check_prefetch(prefetch: Any, problems: list[str]) -> None:
    if not isinstance(prefetch, dict):
        problems.append("prefetch: expected an object")
        return
    for key, value in prefetch.items():
        if value is not None and not isinstance(value, dict):
            problems.append(f"prefetch.{key}: expected a FHIR resource or null")
        elif isinstance(value, dict) and value.get("resourceType") == "Bundle":
            _bundle_shape(value, f"prefetch.{key}", problems)


def parse_request(body: Any, service: Service) -> HookRequest:
    """Validate a hook request for ``service``; InputError naming each bad field."""
    if not isinstance(body, dict):
        raise InputError(["request: expected a JSON object"])
    problems: list[str] = []
    hook = _text(body.get("hook"), "hook", problems)
    if hook is not None and hook != service.hook:
        problems.append(f"hook: {hook!r} is not this service's hook ({service.hook!r})")
    instance = _text(body.get("hookInstance"), "hookInstance", problems)
    context = body.get("context")
    if not isinstance(context, dict):
        raise InputError([*problems, "context: expected an object"])
    patient = _text(context.get("patientId"), "context.patientId", problems)
    prefetch = body.get("prefetch") or {}
    _check_prefetch(prefetch, problems)
    draft_orders, selections = None, ()
    if service.hook in ("order-select", "order-sign"):
        draft_orders = context.get("draftOrders")
        if not isinstance(draft_orders, dict) or draft_orders.get("resourceType") != "Bundle":
            problems.append("context.draftOrders: expected a FHIR Bundle")
        elif _bundle_shape(draft_orders, "context.draftOrders", problems):
            # a draft is told apart by its type (a drug order, or another order left alone)
            problems.extend(f"context.draftOrders.entry[{i}].resource.resourceType: expected a string"
                            for i, e in enumerate(draft_orders.get("entry") or ())
                            if "resource" in e and not isinstance(e["resource"].get("resourceType"), str))
        raw = context.get("selections", [])
        if service.hook == "order-select" and (not isinstance(raw, list) or not all(isinstance(s, str) for s in raw)):
            problems.append("context.selections: expected a list of references")
        else:
            selections = tuple(raw) if isinstance(raw, list) else ()
    fhir_server = body.get("fhirServer")
    authorization = body.get("fhirAuthorization")
    token = authorization.get("access_token") if isinstance(authorization, dict) else None
    if fhir_server is not None and not isinstance(fhir_server, str):
        problems.append("fhirServer: expected a URL")
    if authorization is not None and not (isinstance(token, str) and token):
        problems.append("fhirAuthorization.access_token: expected a non-empty string")
    if problems:
        raise InputError(problems)
    return HookRequest(hook or "", instance or "", patient or "", prefetch, fhir_server, token, draft_orders, selections)


#: What a draft order's drug is read from; the rest of a draft (its dosage, its dispense) is not
#: this service's to judge, and a defect there is noted, not a reason to refuse the drug.
_DRUG_FIELDS = {
    "MedicationRequest": ("resourceType", "id", "status", "intent", "subject", "medicationCodeableConcept",
                          "medicationReference", "contained"),
    "Medication": ("resourceType", "id", "code", "ingredient", "form"),
}


def _draft_notes(raw: list[Any]) -> list[Notice]:
    """A note for each draft with a defect of its own, the draft not otherwise used (a NutritionOrder
    without ``intent``, a MedicationRequest whose dosage is malformed)."""
    notes = []
    for i, resource in enumerate(raw):
        try:
            validate_bundle({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]})
        except InputError as error:
            kind = resource.get("resourceType") if isinstance(resource, Mapping) else None
            first = error.problems[0].removeprefix("entry[0].resource.")
            notes.append(Notice("hooks.draft-defect", f"context.draftOrders.entry[{i}] ({kind})", problem=first))
    return notes


def ordered_drugs(request: HookRequest, catalog: Catalog) -> tuple[list[Order], list[Notice]]:
    """The draft orders for drugs mmsequence assesses (in the catalog and not conventional therapy), in
    order, each drug once, and notes on drafts with defects that do not touch their drug. A drug is
    recognised by a code the catalog holds (RxNorm, ATC), else by name. Only what names a draft's drug
    is validated: a defect there refuses the request, naming the field."""
    raw = [e.get("resource") for e in (request.draft_orders or {}).get("entry") or ()]
    kept = [(i, {k: v for k, v in r.items() if k in _DRUG_FIELDS[r["resourceType"]]})
            for i, r in enumerate(raw) if isinstance(r, Mapping) and r.get("resourceType") in _DRUG_FIELDS]
    try:
        bundle = validate_bundle({"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for _, r in kept]})
    except InputError as error:  # each problem named by the draft's own place
        raise InputError([re.sub(r"^entry\[(\d+)\]", lambda m: f"context.draftOrders.entry[{kept[int(m[1])][0]}]", p)
                          for p in error.problems]) from None
    entries = [(i, e.fullUrl, e.resource, raw[i]) for (i, _), e in zip(kept, bundle.entry or ())
               if e.resource is not None]
    reader = ResourceReader(catalog, medication_index((url, resource) for _, url, resource, _ in entries), LINE_EXTENSION)
    orders: list[Order] = []
    for i, _, resource, draft in entries:
        if resource.get_resource_type() != "MedicationRequest":
            continue
        if request.selections and f"MedicationRequest/{resource.id}" not in request.selections:
            continue
        drug = reader.drug(resource, f"context.draftOrders.entry[{i}].resource")
        if drug.agent is not None and drug.agent.modality != "conventional" and drug.name not in {o.name for o in orders}:
            orders.append(Order(drug.name, draft))
    return orders, _draft_notes(raw) if orders else []


@attrs.frozen
class Prefetched:
    """What the prefetch brought: its entries, the keys still to be read, and for each paged
    searchset the ``next`` link of the pages it did not bring."""

    entries: list[dict[str, Any]]
    missing: list[str]
    following: dict[str, str]


def prefetch_entries(prefetch: Mapping[str, Any], templates: Mapping[str, str] = PREFETCH) -> Prefetched:
    """The prefetched data for ``templates``: a key absent, or answered with an OperationOutcome, is
    missing; ``null`` means the client found no data; a searchset with a ``next`` link is one page
    of more. The shapes were checked by parse_request."""
    found = Prefetched([], [], {})
    for key in templates:
        value = prefetch.get(key, ...)
        if value is ...:
            found.missing.append(key)
        elif value is None:
            continue
        elif value.get("resourceType") == "OperationOutcome":
            found.missing.append(key)
        elif value.get("resourceType") == "Bundle":
            found.entries.extend(value.get("entry") or ())
            links = value.get("link")
            following = [link.get("url") for link in links if isinstance(link, dict) and link.get("relation") == "next"] \
                if isinstance(links, list) else []
            if following:
                found.following[key] = following[0] if isinstance(following[0], str) else ""
        else:
            found.entries.append({"resource": value})
    return found


def merged_bundle(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One collection Bundle of all entries, each resource once (by type and id), search marks dropped."""
    seen: set[str] = set()
    kept = []
    for entry in entries:
        resource = entry.get("resource")
        key = f"{resource.get('resourceType')}/{resource.get('id')}" if isinstance(resource, dict) else None
        if isinstance(resource, dict) and resource.get("id") and key in seen:
            continue
        seen.add(key or "")
        kept.append({k: v for k, v in entry.items() if k in ("fullUrl", "resource")})
    return {"resourceType": "Bundle", "type": "collection", "entry": kept}


OUTCOMES = ("accepted", "overridden")
MAX_FEEDBACK_ITEMS = 100


def _optional_text(value: Any, path: str, problems: list[str]) -> str | None:
    if value is not None and not isinstance(value, str):
        problems.append(f"{path}: expected a string")
        return None
    return value


def parse_feedback(body: Any, service: Service) -> list[Feedback]:
    """The entries of a feedback request; InputError naming each bad field."""
    items = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise InputError(["feedback: expected a non-empty list"])
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise InputError([f"feedback: more than {MAX_FEEDBACK_ITEMS} entries"])
    problems: list[str] = []
    result = []
    for i, item in enumerate(items):
        path = f"feedback[{i}]"
        item = item if isinstance(item, dict) else {}
        card = _text(item.get("card"), f"{path}.card", problems)
        stamp = _text(item.get("outcomeTimestamp"), f"{path}.outcomeTimestamp", problems)
        outcome = item.get("outcome")
        if outcome not in OUTCOMES:
            problems.append(f"{path}.outcome: expected one of {', '.join(OUTCOMES)}")
        accepted = item.get("acceptedSuggestions", [])
        ids = [s.get("id") for s in accepted if isinstance(s, dict)] if isinstance(accepted, list) else []
        if not isinstance(accepted, list) or len(ids) != len(accepted) or not all(isinstance(x, str) and x for x in ids):
            problems.append(f"{path}.acceptedSuggestions: expected a list of objects with an id")
        elif outcome == "accepted" and not ids:
            problems.append(f"{path}.acceptedSuggestions: required when the outcome is accepted")
        override = item.get("overrideReason", {})
        reason = override.get("reason", {}) if isinstance(override, dict) else None
        if not isinstance(reason, dict):
            problems.append(f"{path}.overrideReason: expected an object with a reason Coding")
            continue
        system, code, display = (_optional_text(reason.get(k), f"{path}.overrideReason.reason.{k}", problems)
                                 for k in ("system", "code", "display"))
        comment = _optional_text(override.get("userComment"), f"{path}.overrideReason.userComment", problems)
        result.append(Feedback(service.id, card or "", str(outcome), stamp or "", tuple(str(x) for x in ids),
                               system, code, display, comment))
    if problems:
        raise InputError(problems)
    return result
