"""The policy's omop section and the naming of drug concepts: every bad key named, every ingredient
named through the catalog or set aside for a stated reason, never dropped."""

from __future__ import annotations

import pytest

from mmsequence.catalog import Agent, Code, load_catalog
from mmsequence.errors import InputError
from mmsequence.omop.mapping import omop_mapping
from mmsequence.omop.vocabulary import Ingredient, Vocabulary, drug_meanings, ingredient_meaning
from mmsequence.policy import Policy, load_policy, policy_from_mapping

CATALOG = load_catalog()


def _policy(omop) -> Policy:
    return policy_from_mapping({"omop": omop}, "site.yaml")


def test_a_policy_without_omop_keeps_its_digest_and_output():
    plain = load_policy()
    assert "omop" not in plain.to_dict()
    with_section = policy_from_mapping({"omop": {"myeloma": [1]}}, "site.yaml", plain)
    assert with_section.digest != plain.digest and with_section.to_dict()["omop"] == {"myeloma": [1]}



def test_standard_concepts_by_default_each_replaced_whole_by_the_policy():
    from mmsequence.omop import standard

    default = omop_mapping(policy_from_mapping({}, "site.yaml", load_policy()))
    assert default.myeloma == {standard.MULTIPLE_MYELOMA} == {437233}
    assert dict(default.car_t_infusion) == {43018384: None, 43018388: None}
    assert dict(default.apheresis) == {927059: "done"}
    assert default.defaults == ("myeloma", "car_t_infusion", "apheresis")
    site = omop_mapping(_policy({"myeloma": [7], "apheresis": {11: "done"}}))
    assert (site.myeloma, dict(site.apheresis), site.defaults) == ({7}, {11: "done"}, ("car_t_infusion",))


def test_yaml_and_json_spellings_of_concept_ids_read_the_same():
    from_yaml = omop_mapping(_policy({"myeloma": [7], "apheresis": {11: "done"}, "car_t_infusion": {12: None}}))
    from_json = omop_mapping(_policy({"myeloma": ["7"], "apheresis": {"11": "done"}, "car_t_infusion": {"12": None}}))
    assert from_yaml == from_json
    assert from_yaml.meaning(11) == "apheresis" and from_yaml.meaning(12) == "car-t-infusion" and from_yaml.meaning(13) is None


def test_unquoted_yes_and_no_in_yaml_mean_yes_and_no():
    from mmsequence import _yaml as yaml

    policy = policy_from_mapping(yaml.safe_load("omop: {myeloma: [1], car_t_eligible: {concepts: [2], yes: [3], no: [4]}}"), "site.yaml")
    mapping = omop_mapping(policy)
    assert (mapping.eligible_yes, mapping.eligible_no) == ({3}, {4})


def test_every_bad_key_of_the_omop_section_is_named():
    with pytest.raises(InputError) as raised:
        omop_mapping(_policy({
            "myeloma": [0, "x"], "apheresis": {5: "collected"}, "progression": [5], "soluble_bcma": {"concepts": [6], "units": {8: -1}},
            "car_t_eligible": {"concepts": [9], "maybe": [1]}, "override_window_days": 400, "ingredient_vocabularies": [],
        }))
    assert list(raised.value.problems) == [
        "site.yaml: omop.myeloma[0]: 0 is not a concept id (a positive whole number)",
        "site.yaml: omop.myeloma[1]: 'x' is not a concept id (a positive whole number)",
        "site.yaml: omop.apheresis.5: 'collected' is not one of planned, done, failed, cancelled",
        "site.yaml: omop.car_t_eligible.maybe: unknown key (known: concepts, yes, no)",
        "site.yaml: omop.soluble_bcma.units.8: -1 is not a positive factor to ng/mL",
        "site.yaml: omop.override_window_days: 400 is not a whole number of days from 0 to 365",
        "site.yaml: omop.ingredient_vocabularies: expected a non-empty list of vocabulary ids",
    ]
    with pytest.raises(InputError, match=r"omop.progression: concept 5 is also mapped under apheresis"):
        omop_mapping(_policy({"myeloma": [1], "apheresis": {5: "done"}, "progression": [5]}))


def test_an_ingredient_is_named_by_rxnorm_code_then_site_code_then_name():
    # a site agent with an RxNorm code (a made-up one, for the test) and a site synonym for a local code
    site = CATALOG.extended([Agent("examplimab", ("GPRC5D",), "bsab", "t-cell-engager", "investigational",
                                   codes=(Code("RxNorm", "test", "TEST-RX-1", "made up for this test"),), role="anti-myeloma")], {"LOCAL-TEC": "teclistamab"})
    by_code = ingredient_meaning(Ingredient(1, "some other name", "RxNorm", "TEST-RX-1"), site)
    assert (by_code.name, dict(by_code.matched_by)) == ("examplimab", {"code": "RxNorm TEST-RX-1"})
    by_synonym = ingredient_meaning(Ingredient(2, "unhelpful", "RxNorm Extension", "LOCAL-TEC"), site)
    assert (by_synonym.name, dict(by_synonym.matched_by)) == ("teclistamab", {"synonym": "LOCAL-TEC"})
    assert ingredient_meaning(Ingredient(3, "Elranatamab", "RxNorm", "none"), site).name == "elranatamab"
    # the RxNorm code is read only from the RxNorm vocabulary
    assert ingredient_meaning(Ingredient(4, "x", "RxNorm Extension", "TEST-RX-1"), site).agent is None


def test_uncatalogued_ingredients_are_set_aside_only_when_atc_says_they_are_not_anti_myeloma():
    supportive = ingredient_meaning(Ingredient(1, "ondansetron-like", "RxNorm", "1", atc=("A04SYN",)), CATALOG)
    assert (supportive.outcome, supportive.fallback_role, supportive.agent) == ("not-anti-myeloma", "supportive", None)
    for atc in ((), ("L01SYN",), ("A04SYN", "H02SYN")):
        assert ingredient_meaning(Ingredient(1, "new drug", "RxNorm", "1", atc=atc), CATALOG).outcome == "unknown-agent"
    known = ingredient_meaning(Ingredient(1, "zoledronic acid", "RxNorm", "1"), CATALOG)
    assert known.outcome == "agent" and known.agent is not None and known.agent.role == "supportive"


def test_a_drug_concept_without_an_ingredient_is_kept_as_an_unknown_agent_unless_its_name_is_known():
    vocabulary = Vocabulary({}, {10: "Darzalex 20 MG/ML", 11: "Tecvayli"}, frozenset())
    assert drug_meanings(10, vocabulary, CATALOG)[0].outcome == "unknown-agent"
    assert drug_meanings(11, vocabulary, CATALOG)[0].name == "teclistamab"
    (unknown,) = drug_meanings(0, vocabulary, CATALOG)
    assert (unknown.agent, unknown.name, unknown.outcome) == (None, "drug concept 0", "unknown-agent")
