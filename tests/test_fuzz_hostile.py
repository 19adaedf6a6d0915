"""Hostile input, drawn by Hypothesis, against the reader, the CLI and the service in-process:
deep nesting, wide arrays, long strings, keys given twice, lines of unknown and repeated drugs,
Bundles with nested extensions. No traceback, no 5xx, and output that grows with the input, not
with its square (the attack cases of the robustness review, as properties)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from .builders import document, line
from .profiles import SEEDS, VALIDATION, run
from .service_support import call_app, example
from .test_fuzz import evaluate_file
from .test_robustness import nested_extension_bundle
from .test_service_app import PATIENT_VIEW, app_with

#: At most this many evaluations per property under the dev profile (each runs the CLI in-process).
FEW = VALIDATION.__class__(VALIDATION, max_examples=min(VALIDATION.max_examples, 200))

drug_names = st.one_of(st.sampled_from(["teclistamab", "dexamethasone", "zz-unknown"]),
                       st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=3, max_size=12))


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"x": value}
    return value


@st.composite
def hostile_texts(draw: st.DrawFn) -> bytes:
    """A document or Bundle made hostile in one way, as JSON text."""
    kind = draw(st.sampled_from(["agents", "nested", "string", "twice", "bundle", "wide"]))
    if kind == "agents":
        names = draw(st.lists(drug_names, min_size=1, max_size=120))
        return json.dumps(document(line(names, "2024-01-01", "2024-03-01"))).encode()
    if kind == "nested":
        doc = document()
        doc[draw(st.sampled_from(["comment", "patient_id", "biomarkers", "extra"]))] = _nested(
            draw(st.integers(1, 400)), draw(st.sampled_from([None, 1, "x", []])))
        return json.dumps(doc).encode()
    if kind == "string":
        return json.dumps(document(comment="x" * draw(st.integers(0, 1_200_000)))).encode()
    if kind == "twice":
        text = json.dumps(document(line("teclistamab", "2024-01-01", "2024-03-01")))
        key = draw(st.sampled_from(["car_t_eligible", "as_of", "start", "agents"]))
        return text.replace(f'"{key}": ', f'"{key}": null, "{key}": ', 1).encode()
    if kind == "bundle":
        return json.dumps(nested_extension_bundle(draw(st.integers(0, 200)))).encode()
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [{}] * draw(st.integers(0, 150_000))}).encode()


@SEEDS
def test_hostile_documents_get_an_answer_or_a_named_refusal(seed_value, tmp_path):
    def check(content: bytes) -> None:
        code, out, err = evaluate_file(tmp_path / "document.json", content)
        assert code in (0, 2) and "Traceback" not in err
        if code == 2:
            assert out == "" and err and all(x.startswith("mmsequence: ") and len(x) < 400 for x in err.splitlines())
        else:
            assert len(out) < 5_000 * len(content) + 200_000  # a generous bound, linear in the input

    run(check, hostile_texts(), seed_value, FEW)


@SEEDS
def test_output_grows_at_most_linearly_with_a_lines_drugs(seed_value, tmp_path):
    def check(names: list[str]) -> None:
        doubled = names + [f"{name}-again" for name in names]
        sizes = []
        for agents in (names, doubled):
            code, out, _ = evaluate_file(tmp_path / "document.json", json.dumps(document(line(agents, "2024-01-01", "2024-03-01"))).encode())
            assert code == 0
            sizes.append(len(out))
        assert sizes[1] < 2.5 * sizes[0]

    run(check, st.lists(drug_names, min_size=8, max_size=80, unique=True), seed_value,
        VALIDATION.__class__(FEW, max_examples=min(FEW.max_examples, 30)))


@SEEDS
def test_the_service_answers_hostile_prefetch_without_a_server_error(seed_value, tmp_path):
    app = app_with(tmp_path)
    valid = example("patient-view")

    def check(case: tuple[str, Any]) -> None:
        where, value = case
        body = json.loads(json.dumps(valid))
        body["prefetch"][where] = value
        reply = call_app(app, "POST", PATIENT_VIEW, body)
        assert reply.status_code < 500, reply.text[:300]
        if reply.status_code == 200:
            assert len(reply.content) < 50 * len(json.dumps(body)) + 100_000

    values = st.one_of(
        st.integers(0, 300).map(lambda d: nested_extension_bundle(d)),
        st.integers(0, 300).map(lambda d: {"resourceType": "Patient", "id": "tb-014", "extension": [_nested(d, "x")]}),
        st.integers(0, 3000).map(lambda n: {"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final", "code": {"text": "x"}}}
            for i in range(n)]}),
    )
    run(check, st.tuples(st.sampled_from(["patient", "observations", "procedures"]), values), seed_value,
        VALIDATION.__class__(FEW, max_examples=min(FEW.max_examples, 40)))
