"""A Bundle read from its file's text gives what the decoded text gives: the same history, or the same problems."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from mmsequence import Evaluator, InputError, documents
from mmsequence.fhir.model import read_text

from .fhir_builders import administration, bundle, procedure, statement

ROOT = Path(__file__).resolve().parents[1]
REAL = sorted((ROOT / "tests" / "data" / "synthea").glob("*.json.gz")) + sorted((ROOT / "examples" / "fhir").glob("*.json"))


def _outcome(text: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_text: bool) -> Any:
    """The history read from a file holding ``text`` (or the problems it is refused with), from the
    text where it answers (``from_text``) or from the whole text decoded."""
    path = tmp_path / "bundle.json"
    path.write_bytes(text)
    with monkeypatch.context() as patch:
        if not from_text:
            patch.setattr(documents, "_names_resource_type", lambda _: False)
        try:
            return Evaluator().read(path)
        except InputError as error:
            return [str(problem).replace(str(path), "FILE") for problem in error.problems]


def _same(text: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    found = _outcome(text, tmp_path, monkeypatch, True)
    assert found == _outcome(text, tmp_path, monkeypatch, False)
    return found


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name.split("_")[0])
def test_real_records_are_read_from_their_text(path, tmp_path, monkeypatch):
    raw = path.read_bytes()
    text = gzip.decompress(raw) if path.suffix == ".gz" else raw
    assert read_text(text) is not None
    assert not isinstance(_same(text, tmp_path, monkeypatch), list)


def _valid() -> dict[str, Any]:
    document = bundle(statement("s1", "lenalidomide", "2023-01-01", "2023-06-01"),
                      administration("a1", "daratumumab", "2023-07-01T10:00:00+02:00"),
                      procedure("pr1", "leukapheresis for CAR-T", "2024-01-05"))
    document["entry"].append({"fullUrl": "urn:uuid:c1", "resource": {
        "resourceType": "Claim", "id": "c1", "status": "active", "item": [{"sequence": 1}]}})
    return document


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


#: Text that reads the same either way, or is refused with the same problems: (what, old, new).
_TEXTS = [
    ("valid", "", ""),
    ("a key given twice in a claim", '"sequence": 1', '"sequence": 1, "sequence": 2'),
    ("a key given twice in an entry", '"fullUrl": "urn:uuid:c1"', '"fullUrl": "urn:uuid:c1", "fullUrl": "urn:uuid:c2"'),
    ("a key given twice in the bundle", '"type": "collection"', '"type": "collection", "type": "searchset"'),
    ("a claim nested too deep", '"sequence": 1', '"sequence": 1, "deep": ' + json.dumps(_deep(70))),
    ("a claim nested just deep enough", '"sequence": 1', '"sequence": 1, "deep": ' + json.dumps(_deep(55))),
    ("a number json reads as infinity", '"sequence": 1', '"sequence": 1e999'),
    ("a lone surrogate", '"id": "c1"', '"id": "c\\ud800"'),
    ("a colon written as an escape", '"id": "c1"', '"id": "c\\u003a1"'),
    ("an entry that is no object", '{"fullUrl": "urn:uuid:c1"', '7, {"fullUrl": "urn:uuid:c1"'),
    ("an entry without a resource", '{"fullUrl": "urn:uuid:c1"', '{"fullUrl": "x"}, {"fullUrl": "urn:uuid:c1"'),
    ("no Bundle", '"resourceType": "Bundle"', '"resourceType": "Patient"'),
    ("entry not a list", '"entry": [', '"entry": null, "other": ['),
    ("a next page", '"type": "collection"', '"type": "collection", "link": [{"relation": "next", "url": "u"}]'),
    ("a trailing comma", '"item": [{"sequence": 1}]', '"item": [{"sequence": 1},]'),
]


@pytest.mark.parametrize(("what", "old", "new"), _TEXTS, ids=lambda v: str(v)[:40])
def test_the_text_reads_as_the_decoded_text_reads(what, old, new, tmp_path, monkeypatch):
    text = json.dumps(_valid())
    assert old in text, what
    _same(text.replace(old, new, 1).encode(), tmp_path, monkeypatch)
