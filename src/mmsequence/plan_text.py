"""Sequence plans as text a person reads, in English or Chinese (``mmsequence plan --format text``)."""

from __future__ import annotations

import orjson

from .i18n import ENGLISH, drug_name, finding_message, translations
from .plans import Plan, Plans, PlanStep, plan_criteria, relative_text
from .render import _dumps, _wrap


def plans_json(plans: Plans) -> str:
    """The plans as JSON text (the plan record of the README); the same plans always give the same bytes."""
    return _dumps(plans.to_dict(), orjson.OPT_INDENT_2, indent=2, ensure_ascii=False) + "\n"


def plans_text(plans: Plans, top: int = 5, width: int = 100, language: str = ENGLISH) -> str:
    """The assumption, the no-prediction statement, then the ``top`` plans best first with, per step,
    the verdict, when it can start and the rule that sets it, and the findings that shaped it."""
    tr = translations(language)
    _ = tr.gettext
    lines = [_("Sequence plans for {patient}, as of {date}: {steps} steps").format(
        patient=plans.patient_id, date=plans.as_of.isoformat(), steps=plans.steps)]
    lines += _wrap(_("Assumption: {text}").format(text=assumption_words(plans, language)), width, "", "  ")
    lines += _wrap(no_prediction_words(language), width, "", "  ")
    lines += _wrap(_("{evaluations} histories evaluated; {offered} plans offered, {not_offered} orders not offered "
                     "(a step the evaluator says to avoid).").format(
        evaluations=plans.evaluations, offered=len(plans.plans), not_offered=plans.not_offered), width, "", "  ")
    if plans.plans and len(plans.plans[0].steps) < plans.steps:
        lines.append(_("No plan of {steps} steps: every longer order has a step to avoid.").format(steps=plans.steps))
    if not plans.first.gate.assessed:
        lines.append(_("No plan: the record is not assessed (mmsequence evaluate says why)."))
    elif not plans.plans:
        lines.append(_("No plan is offered: every first step is one to avoid."))
    for plan in plans.plans[:top]:
        lines += ["", *plan_lines(plan, plans, width, language)]
    if len(plans.plans) > top:
        lines += ["", _("{count} more plans (--top, or --format json for all).").format(count=len(plans.plans) - top)]
    return "\n".join(lines) + "\n"


def assumption_words(plans: Plans, language: str) -> str:
    _ = translations(language).gettext
    if plans.months:
        return _("each step starts on its earliest date, is given until progression and stops at relapse; assumed "
                 "months from start to relapse: {months}. Dates after step 1 rest on them.").format(
            months=", ".join(str(m) for m in plans.months))
    return _("each step starts on its earliest date, is given until progression and stops at a relapse whose day is "
             "unknown (a CAR-T is collected and infused once, on its start day); the next step is judged at that "
             "relapse, and its dates are written relative to it ('relapse 1 + 6 months').")


def no_prediction_words(language: str) -> str:
    return translations(language).gettext(
        "Plans do not predict outcomes: no response rate or survival figure is combined into a plan or its rank; "
        "trial figures appear only where a finding cites them.")


def plan_lines(plan: Plan, plans: Plans, width: int, language: str) -> list[str]:
    """One plan: its rank and why, its standing, then each step."""
    tr = translations(language)
    _ = tr.gettext
    criteria = {c.id: c for c in plan_criteria()}
    head = _("Plan {number} (rank {rank}): {name}").format(
        number=plan.number, rank=plan.rank, name=plan_name(plan, plans, language))
    if plan.tied_with:
        head += _(" (equal to plan {plans}: the criteria do not tell them apart)").format(
            plans=", ".join(str(n) for n in plan.tied_with))
    lines = _wrap(head, width, "", "  ")
    if plan.ranked_above_by:
        lines += _wrap(_("ranked above the next plans: {reason} ({criterion})").format(
            reason=criteria[plan.ranked_above_by].reason_in(language), criterion=plan.ranked_above_by), width, "  ", "    ")
    restricted = "; ".join(_("step {step} {verdict} ({rules})").format(
        step=n, verdict=tr.pgettext("verdict", v), rules=", ".join(r) or "-") for n, v, r in plan.restrictions) or _("none")
    car_t = {None: _("not applicable (CAR-T is not the preferred first option)"), True: tr.pgettext("answer", "yes"), False: tr.pgettext("answer", "no")}[plan.car_t_first]
    lines += _wrap(_("restrictions: {restricted}. In reserve at the end: targets {targets}; modalities {modalities}. "
                     "CAR-T first: {car_t}.").format(
        restricted=restricted, targets=", ".join(plan.reserve_targets) or _("none"),
        modalities=", ".join(plan.reserve_modalities) or _("none"), car_t=car_t), width, "  ", "    ")
    for step in plan.steps:
        lines += step_lines(step, plans, width, language)
    return lines


def plan_name(plan: Plan, plans: Plans, language: str) -> str:
    return " → ".join(drug_name(s.therapy, plans.first.catalog, language) for s in plan.steps)


def step_lines(step: PlanStep, plans: Plans, width: int, language: str) -> list[str]:
    tr = translations(language)
    _ = tr.gettext
    assumed = plans.months is not None
    name = drug_name(step.therapy, plans.first.catalog, language)
    if step.alternatives:
        name += _(" (or {others})").format(
            others=", ".join(drug_name(a, plans.first.catalog, language) for a in step.alternatives))
    verdict = tr.pgettext("verdict", step.verdict) + (
        _(" (then {verdict})").format(verdict=tr.pgettext("verdict", step.then)) if step.then else "")
    start = step_start_words(step, assumed, language)
    lines = _wrap(f"{step.number}. {name}: {verdict}; {start}", width, "  ", "       ")
    if step.passed_over:
        lines += _wrap(_("re-uses {target} while {untouched} is untouched with an equal verdict; ranked lower for it "
                         "(plan.switch-target)").format(target="/".join(step.reused_target),
                                                        untouched=", ".join(step.passed_over)), width, "     ", "       ")
    for f in step.findings:
        original = next((o for o in (step.assessed.findings if step.assessed else ()) if o.rule == f.rule), None)
        message = f.message if language == ENGLISH or original is None else relative_text(
            finding_message(original, language, plans.first.catalog), step.relapses, assumed, language)
        lines += _wrap(f"- {tr.pgettext('verdict', f.effect) if f.effect != 'schedule' else tr.pgettext('timing', 'schedule')} {f.rule}: "
                       f"{message}", width, "     ", "       ")
    return lines


def step_start_words(step: PlanStep, assumed: bool, language: str) -> str:
    """'now', 'at relapse 1', with 'not before relapse 1 + 6 months (review.interval)'."""
    _ = translations(language).gettext
    start = _("from {date}").format(date=step.starts.words(language)) if step.starts.relapse == 0 else \
        _("at relapse {number}").format(number=step.starts.relapse) + (
            _(", {date}").format(date=step.starts.words(language)) if assumed else "")
    if step.not_before is not None:
        start += _(", not before {date} ({rules})").format(
            date=step.not_before.words(language), rules=", ".join(step.not_before_rules))
    return start


def step_when_short(step: PlanStep, language: str) -> str:
    """When a step can start, in few words: 'from 2026-06-20', 'at relapse 1', 'relapse 2 + 6 months';
    nothing for a first step that can start on the plan's day."""
    _ = translations(language).gettext
    if step.not_before is not None:
        return _("from {date}").format(date=step.not_before.words(language))
    return "" if step.starts.relapse == 0 else _("at relapse {number}").format(number=step.starts.relapse)
