"""Site policies: every key changes the outcome it should; bad keys are errors naming the key."""

import datetime
import json
from pathlib import Path

import pytest

from mmsequence import InputError, evaluate, load_policy

from .builders import document, line

TEC = line("teclistamab", "2025-01-01", "2025-12-15")
EXAMPLES_POLICIES = Path(__file__).parents[1] / "examples" / "policies"


def policy(tmp_path, text: str):
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


def outcome(doc, pol, candidate="talquetamab"):
    c = evaluate(doc, policy=pol).candidate(candidate)
    return c.verdict, c.earliest_date, {f.rule for f in c.findings}


@pytest.mark.parametrize("path", sorted(EXAMPLES_POLICIES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_example_policies_load(path):
    assert load_policy(path).source == str(path)


def test_packs_strict_mode(tmp_path):
    doc = document(biomarkers={"gprc5d_loss": True})
    assert outcome(doc, None)[0] == "avoid"
    strict = policy(tmp_path, "packs: [review]")
    assert strict.packs == ("safety", "review")
    assert outcome(doc, strict)[0] == "acceptable"
    assert evaluate(doc, policy=strict).to_dict()["ruleset"]["packs"] == ["safety", "review"]


def test_interval_months(tmp_path):
    doc = document(TEC, as_of="2026-01-10")
    assert outcome(doc, policy(tmp_path, "interval: {months: 3}"))[:2] == ("wait", datetime.date(2026, 3, 15))


def test_interval_scope(tmp_path):
    doc = document(line("cilta-cel", "2026-03-01", "2026-03-01"), as_of="2026-04-01")
    assert outcome(doc, None)[0] != "wait"
    assert outcome(doc, policy(tmp_path, "interval: {scope: any-tcrt}"))[:2] == ("wait", datetime.date(2026, 9, 1))


def test_interval_effect(tmp_path):
    doc = document(TEC, as_of="2026-01-10")
    verdict, date, rules = outcome(doc, policy(tmp_path, "interval: {effect: caution}"))
    assert (verdict, date) == ("caution", None) and "review.interval" in rules


def test_car_t_anchor(tmp_path):
    doc = document(TEC, as_of="2026-01-10", car_t_eligible=True, candidates=["cilta-cel"],
                   apheresis=[{"status": "planned", "date": "2026-07-01"}])
    assert "review.interval" not in outcome(doc, None, "cilta-cel")[2]
    assert outcome(doc, policy(tmp_path, "interval: {car_t_anchor: evaluation-date}"), "cilta-cel")[:2] == (
        "wait", datetime.date(2026, 6, 15))


def test_washout_days(tmp_path):
    doc = document(line(["pomalidomide", "dexamethasone"], "2026-01-01", "2026-05-25"))
    assert outcome(doc, None)[:2] == ("acceptable", datetime.date(2026, 6, 8))
    assert outcome(doc, policy(tmp_path, "washout: {days: 3}"))[:2] == ("acceptable", None)


def test_disabled_rules(tmp_path):
    doc = document(biomarkers={"gprc5d_loss": True})
    assert outcome(doc, policy(tmp_path, "disabled_rules: [extended.antigen-loss]"))[0] == "acceptable"


def test_safety_rules_cannot_be_disabled(tmp_path):
    with pytest.raises(InputError, match=r"'safety.unknown-agent' is a safety rule and cannot be switched off"):
        evaluate(document(), policy=policy(tmp_path, "disabled_rules: [safety.unknown-agent]"))


def test_unknown_rule_id_is_an_error(tmp_path):
    with pytest.raises(InputError, match=r"disabled_rules: 'review.nope' is not a rule id"):
        evaluate(document(), policy=policy(tmp_path, "disabled_rules: [review.nope]"))


def test_jurisdiction(tmp_path):
    doc = document(candidates=["talquetamab"])
    assert not any(r.startswith("labels.") for r in outcome(doc, None)[2])
    assert "labels.talquetamab-us" in outcome(doc, policy(tmp_path, "jurisdiction: US"))[2]


def test_site_agents_and_synonyms(tmp_path):
    pol = policy(tmp_path, json.dumps({
        "agents": [{"name": "examplimab", "targets": ["GPRC5D"], "modality": "bsab", "class": "t-cell-engager", "status": "investigational",
                    "role": "anti-myeloma"}],
        "synonyms": {"HOSP-TEC-01": "teclistamab"},
    }))
    doc = document(line("HOSP-TEC-01", "2025-01-01", "2025-12-15"), line("examplimab", "2026-01-01", "2026-02-01"),
                   as_of="2026-03-01", candidates=["talquetamab"])
    assert outcome(doc, None)[0] == "indeterminate"
    verdict, date, rules = outcome(doc, pol)
    assert (verdict, date) == ("wait", datetime.date(2026, 8, 1)) and "review.switch-target" in rules


def test_colliding_site_synonym_is_an_error(tmp_path):
    with pytest.raises(InputError, match="already a name of 'teclistamab'"):
        evaluate(document(), policy=policy(tmp_path, "synonyms: {Tecvayli: talquetamab}"))


def test_every_clash_of_a_site_catalog_is_reported_at_once(tmp_path):
    with pytest.raises(InputError) as caught:
        evaluate(document(), policy=policy(tmp_path, "synonyms: {Tecvayli: talquetamab, LOCAL-1: nosuchmab}"))
    assert sorted(p.split(": agents/synonyms: ")[1] for p in caught.value.problems) == [
        "synonym 'LOCAL-1': 'nosuchmab' is not an agent in the catalog",
        "synonym 'Tecvayli' for 'talquetamab' is already a name of 'teclistamab'",
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("intervall: {months: 6}", "intervall: unknown policy key"),
        ("interval: {months: 0}", "interval.months: 0 is not a whole number of months from 1 to 36"),
        ("interval: {months: six}", "interval.months: 'six' is not a whole number"),
        ("interval: {scope: all}", "interval.scope: 'all' is not one of after-bsab, any-tcrt"),
        ("interval: {effect: avoid}", "interval.effect: 'avoid' is not one of wait, caution"),
        ("interval: {anchor: x}", "interval.anchor: unknown policy key"),
        ("washout: {days: -1}", "washout.days: -1 is not a whole number of days"),
        ("packs: [review, bonus]", "packs: 'bonus' is not a rule pack (safety, review, extended, labels)"),
        ("jurisdiction: UK", "jurisdiction: 'UK' is not one of US, EU, CN, null"),
        ("agents: [{name: x}]", "agents[0].targets: missing"),
        ("[1, 2]", "expected a mapping of policy keys"),
        ("a: [", "not valid YAML or JSON"),
    ],
)
def test_bad_policies_name_the_key(tmp_path, text, message):
    with pytest.raises(InputError) as caught:
        policy(tmp_path, text)
    assert any(message in p for p in caught.value.problems), caught.value.problems


def test_assessment_records_the_policy_and_a_digest_of_rules_and_policy(tmp_path):
    doc = document()
    default = evaluate(doc)
    other = evaluate(doc, policy=policy(tmp_path, "washout: {days: 15}"))
    assert default.to_dict()["policy"]["washout"] == {"days": 14} and other.to_dict()["policy"]["washout"] == {"days": 15}
    assert other.policy.source.endswith("policy.yaml")
    assert default.ruleset.digest != other.ruleset.digest
    assert default.ruleset.digest == evaluate(doc).ruleset.digest


def test_the_recorded_policy_reads_back_as_the_same_policy(tmp_path):
    from mmsequence.policy import policy_from_mapping

    pol = load_policy(EXAMPLES_POLICIES / "site-example.yaml")
    recorded = evaluate(document(), policy=pol).to_dict()["policy"]
    again = policy_from_mapping({k: v for k, v in recorded.items() if k not in ("source", "digest")}, recorded["source"])
    assert again == pol and again.digest == recorded["digest"]


def test_interval_consecutive(tmp_path):
    # talquetamab bridged to cilta-cel: by default the CAR-T ended talquetamab's clock
    doc = document(line("talquetamab", "2025-11-10", "2025-12-20"), line("cilta-cel", "2026-01-05", "2026-01-05"),
                   as_of="2026-04-01", car_t_eligible=True, candidates=["teclistamab"],
                   apheresis=[{"status": "done", "date": "2025-11-01"}])
    assert "review.interval" not in outcome(doc, None, "teclistamab")[2]
    assert outcome(doc, policy(tmp_path, "interval: {consecutive: false}"), "teclistamab")[:2] == (
        "wait", datetime.date(2026, 6, 20))
    with pytest.raises(InputError, match=r"interval.consecutive: 'yes' is not true or false"):
        policy(tmp_path, "interval: {consecutive: 'yes'}")


def test_observation_codes_a_site_maps_are_validated_and_layered(tmp_path):
    pol = policy(tmp_path, json.dumps({"observations": {"soluble_bcma": ["urn:site|SBCMA"]}}))
    codes = pol.observation_codes()
    assert codes["soluble_bcma"] == ("urn:site|SBCMA",)
    assert codes["disease_status"] == ("http://loinc.org|97509-4", "http://loinc.org|88040-1")


@pytest.mark.parametrize(
    ("observations", "expected"),
    [({"soluble_bcma": ["SBCMA"]}, "observations.soluble_bcma: expected a list of 'system|code' strings"),
     ({"m_protein": []}, "observations.m_protein: unknown policy key")],
)
def test_bad_observation_codes_name_the_key(tmp_path, observations, expected):
    with pytest.raises(InputError) as raised:
        policy(tmp_path, json.dumps({"observations": observations}))
    assert any(expected in p for p in raised.value.problems)
