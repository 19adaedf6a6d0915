"""Drug names as EHRs write them: the ingredients an RxNorm name lists, FDA suffixed names, and
whether a name nobody catalogued looks antineoplastic.

RxNorm's normalized names (NLM, RxNorm Technical Documentation, section 1 and Appendix 5 "RxNorm
Term Types", https://www.nlm.nih.gov/research/umls/rxnorm/docs/index.html) combine ingredients,
strengths and dose form: a clinical drug (SCD) is "Ingredient Strength Dose Form" ("Atorvastatin
20 MG Oral Tablet"), ingredients joined by " / " ("Amoxicillin 875 MG / Clavulanate 125 MG Oral
Tablet"); a branded drug (SBD) adds the brand in brackets ("... [Augmentin]"); a quantified drug
starts with its quantity ("1 ML DOCEtaxel 20 MG/ML Injection"); a pack (GPCK, BPCK) lists its
drugs in braces with their counts ("{28 (Ethinyl Estradiol 0.03 MG / Levonorgestrel 0.15 MG Oral
Tablet) } Pack [Levora]"). US nonproprietary names of biologics carry a four-letter suffix, as
their FDA labels give them ("teclistamab-cqyv", "daratumumab and hyaluronidase-fihj"; see the
catalog's synonyms in rules/agents.yaml).

A name looks antineoplastic when one of its words ends in a WHO INN stem of an antineoplastic or
immunomodulating group, or when it is a research code name (letters and digits, "ABBV-383").
Stems: WHO, "Use of stems in the selection of International Nonproprietary Names (INN) for
pharmaceutical substances" (2024, https://www.who.int/publications/i/item/9789240099388) and, for
the antibody stems that replace -mab since 2022, WHO INN Working Document 22-542 "New INN
monoclonal antibody (mAb) nomenclature scheme" (May 2022): -tug, -bart, -mig, -ment. The safety
argument for reading an open world this way is in docs/hazard-log.md ("Unknown drugs").
"""

from __future__ import annotations

import re
from collections.abc import Iterator

#: Word endings (INN stems) of antineoplastic and immunomodulating drug groups, and the group.
INN_STEMS = (
    ("mab", "monoclonal antibody"),  # includes -tamab (bispecific T-cell engagers), -ximab, -zumab, -umab
    ("tug", "monoclonal antibody"), ("bart", "monoclonal antibody"), ("mig", "multispecific antibody"),
    ("ment", "antibody fragment"),
    ("cel", "cell therapy"),  # includes -leucel, -gene ...cel
    ("zomib", "proteasome inhibitor"),
    ("domide", "thalidomide analogue (IMiD or CELMoD)"),
    ("tinib", "kinase inhibitor"), ("rafenib", "kinase inhibitor"), ("ciclib", "kinase inhibitor"),
    ("lisib", "kinase inhibitor"), ("parib", "PARP inhibitor"),
    ("clax", "BCL-2 inhibitor"), ("inostat", "histone deacetylase inhibitor"),
    ("platin", "antineoplastic (platinum)"), ("taxel", "antineoplastic (taxane)"),
    ("rubicin", "antineoplastic (anthracycline)"), ("mustine", "antineoplastic (alkylating agent)"),
    ("citabine", "antineoplastic (nucleoside analogue)"), ("tecan", "antineoplastic (topoisomerase I inhibitor)"),
    ("trexed", "antineoplastic (antifolate)"),
)
#: Dose forms and other words that end like a stem without being a drug's name.
_NOT_NAMES = frozenset({"ointment", "liniment", "supplement", "treatment", "cement", "pigment", "parcel"})
_STEM_WORD = re.compile(r"[a-z]{3,}(?:" + "|".join(stem for stem, _ in INN_STEMS) + r")\Z")
#: A research code name: 2-5 capital letters, an optional hyphen or space, 3-8 digits (ABBV-383, REGN5458).
_CODE_NAME = re.compile(r"\b(?!(?:NDA|ANDA|BLA|NDC)\b|(?:NDA|ANDA|BLA|NDC)\d)[A-Z]{2,5}[- ]?\d{3,8}\b")
#: A US application number some names start with ("NDA020503 200 ACTUAT Albuterol ..."), not an ingredient.
_APPLICATION = re.compile(r"^(?:NDA|ANDA|BLA)\d+\s+")
_FDA_SUFFIX = re.compile(r"^(?P<base>[^\s]+?)-[a-z]{4}$")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_QUANTITY = re.compile(r"^(?:\d[\d.,]*\s*(?:[A-Z]+\b)?\s*)+")


def ingredient_names(text: str) -> list[str]:
    """The ingredient names an RxNorm-style drug name lists, in order ([] when it lists none
    before its strengths)."""
    body = _BRACKETS.sub(" ", text).replace("{", " ").replace("}", " ")
    body = re.sub(r"\bPack\b", " ", body)
    names = []
    for part in re.split(r"\s/\s|[()]", body):
        words = _QUANTITY.sub("", _APPLICATION.sub("", part.strip())).split()
        name = []
        for word in words:
            if word[:1].isdigit():
                break
            name.append(word)
        if name and len(name) < len(words):
            names.append(" ".join(name))
    return list(dict.fromkeys(names))


def name_variants(name: str) -> Iterator[str]:
    """A name, then the names it stands for without an FDA suffix ('teclistamab-cqyv' ->
    'teclistamab'; 'daratumumab-hyaluronidase-fihj' -> 'daratumumab-hyaluronidase', 'daratumumab')."""
    yield name
    found = _FDA_SUFFIX.match(name.strip())
    if found:
        base = found.group("base")
        yield base
        yield from base.split("-")


def looks_antineoplastic(text: str) -> str | None:
    """Why a drug name nobody catalogued may be anti-myeloma therapy (an INN stem, a research
    code name), or None when nothing in it says so."""
    coded = _CODE_NAME.search(text)
    if coded:
        return f"research code name {coded.group()}"
    for name in ingredient_names(text) or [text]:
        for word in (w.replace("-", "") for w in re.split(r"[^a-z-]+", name.casefold())):
            if word in _NOT_NAMES or not _STEM_WORD.search(word):
                continue
            stem, group = next((s, g) for s, g in INN_STEMS if word.endswith(s))
            return f"{word}: INN stem -{stem} ({group})"
    return None
