"""The labels pack: indications by prior lines and prior classes, per jurisdiction."""

import pytest

from mmsequence import evaluate, load_policy

from .builders import document, line

DVRd = ["daratumumab", "bortezomib", "lenalidomide", "dexamethasone"]


def label_findings(doc, candidate: str, policy=None) -> list:
    return [f for f in evaluate(doc, policy=policy).candidate(candidate).findings if f.rule.startswith("labels.")]


def lines(n: int, agents=DVRd, **extra) -> list[dict]:
    return [line(agents, f"{2010 + 2 * i}-01-01", f"{2011 + 2 * i}-06-01", **extra) for i in range(n)]


def doc_with(n_lines: int, jurisdiction: str | None, candidates, **extra):
    doc = document(candidates=candidates, jurisdiction=jurisdiction, **extra)
    doc["lines"] = lines(n_lines, stop_reason="progression")
    return doc


@pytest.mark.parametrize(
    "agent, jurisdiction, on_label, off_label",
    [
        ("teclistamab", "US", 4, 3),
        ("talquetamab", "US", 4, 3),
        ("talquetamab", "EU", 3, 2),
        ("elranatamab", "EU", 3, 2),
        ("idecabtagene vicleucel", "US", 2, 1),
        ("ciltacabtagene autoleucel", "US", 1, 0),
        ("teclistamab", "CN", 3, 2),
        ("equecabtagene autoleucel", "CN", 3, 2),
        ("zevorcabtagene autoleucel", "CN", 3, 2),
    ],
)
def test_prior_line_count(agent, jurisdiction, on_label, off_label):
    assert label_findings(doc_with(on_label, jurisdiction, [agent]), agent) == []
    (finding,) = label_findings(doc_with(off_label, jurisdiction, [agent]), agent)
    assert finding.effect == "caution" and finding.evidence == "label"
    region = "China" if jurisdiction == "CN" else f"the {jurisdiction}"
    assert f"Not confirmed on-label in {region}" in finding.message
    assert finding.facts["prior_lines"] == off_label


def test_required_classes():
    doc = doc_with(4, "US", ["teclistamab"])
    doc["lines"] = lines(4, agents=["bortezomib", "lenalidomide", "dexamethasone"], stop_reason="progression")
    (finding,) = label_findings(doc, "teclistamab")
    assert finding.facts["exposed_anti_cd38"] == "no"


def test_lenalidomide_refractory_for_cilta_cel():
    doc = doc_with(1, "US", ["cilta-cel"])
    doc["lines"][0]["stop_reason"] = "completed"
    doc["lines"][0]["refractory"] = False
    (finding,) = label_findings(doc, "cilta-cel")
    assert finding.facts["lenalidomide_refractory"] == "no"


def test_eu_requires_progression_on_the_last_line():
    doc = doc_with(3, "EU", ["talquetamab"])
    doc["lines"][-1]["stop_reason"] = "toxicity"
    (finding,) = label_findings(doc, "talquetamab")
    assert finding.facts["progression_on_last"] == "unknown"


def test_an_unknown_agent_makes_class_exposure_unconfirmed():
    doc = doc_with(4, "US", ["teclistamab"])
    doc["lines"] = lines(4, agents=["ZX-1"], stop_reason="progression")
    (finding,) = label_findings(doc, "teclistamab")
    assert finding.facts["exposed_pi"] == "unknown"


def test_no_jurisdiction_no_label_findings():
    assert label_findings(doc_with(0, None, ["cilta-cel", "teclistamab"]) | {"lines": []}, "teclistamab") == []


def test_policy_jurisdiction_is_the_default(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("jurisdiction: EU\n")
    doc = doc_with(2, None, ["talquetamab"])
    assert label_findings(doc, "talquetamab") == []
    assert [f.rule for f in label_findings(doc, "talquetamab", policy=load_policy(path))] == ["labels.talquetamab-eu"]
    doc["jurisdiction"] = "US"
    assert [f.rule for f in label_findings(doc, "talquetamab", policy=load_policy(path))] == ["labels.talquetamab-us"]


@pytest.mark.parametrize("agent", ["equecabtagene autoleucel", "zevorcabtagene autoleucel"])
def test_china_car_t_labels_need_a_pi_and_an_imid_but_no_anti_cd38(agent):
    doc = doc_with(3, "CN", [agent])
    doc["lines"] = lines(3, agents=["bortezomib", "lenalidomide", "dexamethasone"], stop_reason="progression")
    assert label_findings(doc, agent) == []
    doc["lines"] = lines(3, agents=["daratumumab", "lenalidomide", "dexamethasone"], stop_reason="progression")
    (finding,) = label_findings(doc, agent)
    assert finding.rule.endswith("-cn") and finding.facts["exposed_pi"] == "no"


def test_teclistamab_in_china_needs_an_anti_cd38_antibody():
    doc = doc_with(3, "CN", ["teclistamab"])
    doc["lines"] = lines(3, agents=["bortezomib", "lenalidomide", "dexamethasone"], stop_reason="progression")
    (finding,) = label_findings(doc, "teclistamab")
    assert finding.rule == "labels.teclistamab-cn" and finding.facts["exposed_anti_cd38"] == "no"


@pytest.mark.parametrize("jurisdiction", ["US", "EU"])
def test_a_china_only_car_t_is_a_caution_outside_china(jurisdiction):
    doc = doc_with(4, jurisdiction, ["Fucaso", "zevor-cel"])
    for name in ("Fucaso", "zevor-cel"):
        (finding,) = label_findings(doc, name)
        assert finding.rule == "labels.china-only-car-t" and f"not in the {jurisdiction}" in finding.message
    assert label_findings(doc_with(4, "CN", ["Fucaso"]), "Fucaso") == []
    assert label_findings(doc_with(4, None, ["Fucaso"]), "Fucaso") == []


def test_china_only_car_ts_are_default_candidates_in_china_alone():
    china_only = {"equecabtagene autoleucel", "zevorcabtagene autoleucel"}
    for jurisdiction, expected in ((None, set()), ("US", set()), ("EU", set()), ("CN", china_only)):
        doc = doc_with(3, jurisdiction, None)
        del doc["candidates"]
        names = {c.therapy for c in evaluate(doc).candidates}
        assert names & china_only == expected and "teclistamab" in names
