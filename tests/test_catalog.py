"""The agent catalog: the shipped data, name and code lookup, validation and site extensions."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from mmsequence.catalog import (
    MODALITIES,
    ROLES,
    Agent,
    Catalog,
    CatalogError,
    Code,
    atc_fallback_role,
    load_catalog,
    normalise,
)

CATALOG = load_catalog()

APPROVED_TCRTS = (
    "teclistamab",
    "elranatamab",
    "linvoseltamab",
    "talquetamab",
    "ciltacabtagene autoleucel",
    "idecabtagene vicleucel",
)


def _name(catalog: Catalog, written: str) -> str | None:
    """Canonical name of the agent a name resolves to, or None."""
    agent = catalog.lookup(written)
    return agent.name if agent else None


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        # generic names
        ("teclistamab", "teclistamab"),
        ("ciltacabtagene autoleucel", "ciltacabtagene autoleucel"),
        ("belantamab mafodotin", "belantamab mafodotin"),
        ("etentamig", "etentamig"),
        ("melphalan flufenamide", "melphalan flufenamide"),
        # short names
        ("cilta-cel", "ciltacabtagene autoleucel"),
        ("ide-cel", "idecabtagene vicleucel"),
        ("arlo-cel", "arlocabtagene autoleucel"),
        ("anito-cel", "anitocabtagene autoleucel"),
        ("tec", "teclistamab"),
        ("belamaf", "belantamab mafodotin"),
        ("melflufen", "melphalan flufenamide"),
        # brands
        ("Tecvayli", "teclistamab"),
        ("Elrexfio", "elranatamab"),
        ("Lynozyfic", "linvoseltamab"),
        ("Talvey", "talquetamab"),
        ("Carvykti", "ciltacabtagene autoleucel"),
        ("Abecma", "idecabtagene vicleucel"),
        ("Blenrep", "belantamab mafodotin"),
        ("Darzalex Faspro", "daratumumab"),
        ("Imnovid", "pomalidomide"),
        ("Doxil", "pegylated liposomal doxorubicin"),
        # development codes
        ("JNJ-64007957", "teclistamab"),
        ("PF-06863135", "elranatamab"),
        ("REGN5458", "linvoseltamab"),
        ("JNJ-64407564", "talquetamab"),
        ("LCAR-B38M", "ciltacabtagene autoleucel"),
        ("bb2121", "idecabtagene vicleucel"),
        ("ABBV-383", "etentamig"),
        ("TNB-383B", "etentamig"),
        ("RG6160", "cevostamab"),
        ("RG6234", "forimtamig"),
        ("CART-ddBCMA", "anitocabtagene autoleucel"),
        ("AMG 420", "AMG 420"),
        # Chinese names from the review
        ("特立妥单抗", "teclistamab"),
        ("埃纳妥单抗", "elranatamab"),
        # odd case, spacing and marks
        ("Cilta-Cel", "ciltacabtagene autoleucel"),
        ("cilta cel", "ciltacabtagene autoleucel"),
        ("CILTACEL", "ciltacabtagene autoleucel"),
        ("JNJ 64007957", "teclistamab"),
        ("  tecvayli®  ", "teclistamab"),
        ("Carvykti™", "ciltacabtagene autoleucel"),
        ("amg420", "AMG 420"),
        ("abbv_383", "etentamig"),
        ("ＪＮＪ－６４００７９５７", "teclistamab"),  # full-width characters (NFKC)
        ("Idecabtagene\tVicleucel", "idecabtagene vicleucel"),
    ],
)
def test_every_kind_of_name_resolves(written: str, canonical: str) -> None:
    assert _name(CATALOG, written) == canonical


@pytest.mark.parametrize("unknown", ["", "   ", "ibuprofen", "teclistamabx", "CD3", "BCMA", "cel"])
def test_unknown_names_give_none(unknown: str) -> None:
    assert CATALOG.lookup(unknown) is None


def test_normalise_drops_case_spacing_dashes_and_marks() -> None:
    assert {normalise(n) for n in ["Cilta-Cel", "cilta cel", "CILTACEL", "cilta.cel", "cilta–cel®"]} == {"ciltacel"}


def test_no_two_agents_share_a_normalised_name() -> None:
    owners: dict[str, str] = {}
    for agent in CATALOG.agents:
        for name in {normalise(n) for n in (agent.name, *agent.synonyms)}:
            assert name, f"{agent.name}: a name normalises to nothing"
            assert owners.setdefault(name, agent.name) == agent.name, f"{name!r}: {owners[name]} and {agent.name}"


def test_every_agent_in_the_guidance_table_is_catalogued() -> None:
    table = [
        "teclistamab", "elranatamab", "linvoseltamab", "talquetamab", "cilta-cel", "ide-cel",
        "belantamab mafodotin", "etentamig", "ABBV-383", "TNB-383B", "cevostamab", "forimtamig",
        "LBL-034", "arlo-cel", "anito-cel", "IBI379", "AMG 420", "alnuctamab", "RO7297089", "CTX-8573",
    ]  # fmt: skip
    assert [name for name in table if CATALOG.lookup(name) is None] == []


def test_belantamab_is_a_bcma_adc_not_a_tcrt() -> None:
    agent = CATALOG.lookup("belantamab")
    assert agent is not None
    assert (agent.targets, agent.modality, agent.drug_class, agent.is_tcrt) == (("BCMA",), "adc", "adc", False)


@pytest.mark.parametrize("name", ["RO7297089", "CTX-8573"])
def test_nk_cell_engagers_are_bcma_but_not_tcrt(name: str) -> None:
    agent = CATALOG.lookup(name)
    assert agent is not None
    assert (agent.targets, agent.modality, agent.drug_class, agent.is_tcrt) == (
        ("BCMA",),
        "nk-engager",
        "nk-cell-engager",
        False,
    )


def test_approved_tcrts_are_the_four_bsabs_and_two_car_ts_in_order() -> None:
    assert tuple(agent.name for agent in CATALOG.approved_tcrts()) == APPROVED_TCRTS
    assert tuple(agent.name for agent in CATALOG.approved_tcrts("EU")) == APPROVED_TCRTS


def test_china_adds_its_own_bcma_car_ts_to_the_approved_tcrts_and_drops_ide_cel() -> None:
    china_only = ("equecabtagene autoleucel", "zevorcabtagene autoleucel")
    not_in_china = ("idecabtagene vicleucel",)
    assert tuple(agent.name for agent in CATALOG.approved_tcrts("CN")) == tuple(
        n for n in APPROVED_TCRTS if n not in not_in_china) + china_only
    for name in china_only:
        agent = CATALOG.lookup(name)
        assert agent is not None and (agent.targets, agent.modality, agent.approved_in) == (("BCMA",), "car-t", ("CN",))


@pytest.mark.parametrize(
    ("written", "shown"),
    [("tec", "特立妥单抗"), ("Elrexfio", "埃纳妥单抗"), ("Fucaso", "伊基奥仑赛"), ("赛恺泽", "泽沃基奥仑赛"),
     ("cilta-cel", "ciltacabtagene autoleucel")],
)
def test_the_zh_cn_display_name_is_marked_and_falls_back_to_the_canonical_name(written: str, shown: str) -> None:
    agent = CATALOG.lookup(written)
    assert agent is not None and agent.display_name("zh-CN") == shown
    assert agent.display_name() == agent.display_name("en") == agent.name


@pytest.mark.parametrize(
    ("name", "target", "status"),
    [
        ("talquetamab", "GPRC5D", "approved"),
        ("cevostamab", "FcRH5", "investigational"),
        ("arlo-cel", "GPRC5D", "investigational"),
        ("IBI379", "BCMA", "preclinical"),
        ("AMG 420", "BCMA", "discontinued"),
        ("alnuctamab", "BCMA", "discontinued"),
        ("daratumumab", "CD38", "approved"),
        ("elotuzumab", "SLAMF7", "approved"),
    ],
)
def test_targets_and_status(name: str, target: str, status: str) -> None:
    agent = CATALOG.lookup(name)
    assert agent is not None and agent.targets == (target,) and agent.status == status


@pytest.mark.parametrize(
    ("written", "canonical", "role", "drug_class"),
    [
        ("zoledronic acid", "zoledronic acid", "supportive", "bisphosphonate"),
        ("Xgeva", "denosumab", "supportive", "rank-ligand-antibody"),
        ("Bactrim", "sulfamethoxazole and trimethoprim", "supportive", "antibacterial"),
        ("IVIG", "immune globulin", "supportive", "immunoglobulin"),
        ("Neupogen", "filgrastim", "supportive", "g-csf"),
        ("Mozobil", "plerixafor", "supportive", "cxcr4-antagonist"),
        ("Eliquis", "apixaban", "supportive", "anticoagulant"),
        ("PRBC", "red blood cells", "supportive", "blood-product"),
        ("Actemra", "tocilizumab", "crs-management", "il6-receptor-antibody"),
        ("Keppra", "levetiracetam", "crs-management", "antiepileptic"),
        ("paracetamol", "acetaminophen", "premedication", "analgesic-antipyretic"),
        ("Benadryl", "diphenhydramine", "premedication", "antihistamine"),
        ("fludarabine", "fludarabine", "lymphodepletion", "purine-analogue"),
        ("busulfan", "busulfan", "conditioning", "alkylator"),
    ],
)
def test_drugs_that_are_not_anti_myeloma_therapy_are_recognised_with_their_role(
    written: str, canonical: str, role: str, drug_class: str
) -> None:
    agent = CATALOG.lookup(written)
    assert agent is not None
    assert (agent.name, agent.role, agent.drug_class, agent.is_anti_myeloma) == (canonical, role, drug_class, False)


def test_the_catalog_holds_at_least_80_drugs_that_are_not_anti_myeloma_therapy() -> None:
    others = [agent for agent in CATALOG.agents if not agent.is_anti_myeloma]
    assert len(others) >= 80
    assert {agent.role for agent in others} == set(ROLES) - {"anti-myeloma"}
    directed_elsewhere = [a for a in others if a.role in ("crs-management", "premedication", "supportive")]
    assert all(a.modality == "none" and a.targets == () for a in directed_elsewhere)


@pytest.mark.parametrize(
    ("name", "contexts"),
    [
        ("melphalan", ("conditioning",)),
        ("cyclophosphamide", ("lymphodepletion",)),
        ("bendamustine", ("lymphodepletion",)),
        ("dexamethasone", ("premedication", "crs-management")),
        ("methylprednisolone", ("premedication", "crs-management")),
    ],
)
def test_anti_myeloma_drugs_with_other_contexts(name: str, contexts: tuple[str, ...]) -> None:
    agent = CATALOG.lookup(name)
    assert agent is not None and agent.is_anti_myeloma and agent.contexts == contexts
    assert all(agent.may_be(role) for role in contexts) and not agent.may_be("supportive")


@pytest.mark.parametrize(
    ("code", "role"),
    [("J05AB01", "supportive"), ("B01AC06", "supportive"), ("A04AA01", "supportive"), ("L03AA02", "supportive"),
     ("N02BE01", "supportive"), ("L01XG01", None), ("L02BB03", None), ("L04AX04", None), ("H02AB02", None),
     ("l01fx24", None), (" j05ab01 ", "supportive"), ("", None), ("12345", None)],
)  # fmt: skip
def test_atc_fallback_role_is_supportive_outside_the_anti_myeloma_groups(code: str, role: str | None) -> None:
    assert atc_fallback_role(code) == role


def test_every_conventional_agent_has_no_tcrt_modality() -> None:
    conventional = [agent for agent in CATALOG.agents if agent.modality == "conventional"]
    assert len(conventional) >= 25 and not any(agent.is_tcrt for agent in conventional)
    assert {agent.modality for agent in CATALOG.agents} == set(MODALITIES)


@pytest.mark.parametrize(
    ("system", "code", "canonical"),
    [
        ("ATC", "L01FX24", "teclistamab"),
        ("ATC", "L01FX29", "talquetamab"),
        ("ATC", "L01XL05", "ciltacabtagene autoleucel"),
        ("ATC", "L01XL07", "idecabtagene vicleucel"),
        ("ATC", "L01FX15", "belantamab mafodotin"),
        ("ATC", "L01FC01", "daratumumab"),
        ("RxNorm", "1721947", "daratumumab"),
        ("atc", " l01fx24 ", "teclistamab"),
    ],
)
def test_codes_resolve(system: str, code: str, canonical: str) -> None:
    agent = CATALOG.by_code(system, code)
    assert agent is not None and agent.name == canonical


def test_unknown_codes_and_wrong_systems_give_none() -> None:
    assert CATALOG.by_code("ATC", "L01FX31") is None  # another edition's talquetamab code: not stored
    assert CATALOG.by_code("RxNorm", "L01FX24") is None
    assert CATALOG.by_code("SNOMED", "1721947") is None


def test_every_code_carries_system_version_and_source() -> None:
    codes = [code for agent in CATALOG.agents for code in agent.codes]
    assert len(codes) >= 150
    assert all(code.system and code.version and code.code and code.source for code in codes)
    assert {code.system for code in codes} == {"ATC", "OMOP", "RxNorm"}
    assert CATALOG.by_code("ATC", "L01FX29") == CATALOG.lookup("talquetamab")
    assert [agent.codes for agent in CATALOG.agents if agent.name == "talquetamab"] == [
        (Code("ATC", "2024 DE", "L01FX29", "shared/reference/guidance-notes.md (German ATC index, 2024 edition)"),
         Code("OMOP", "CDM v5.4 standard concept", "746340", "OHDSI/ETL-LambdaBuilder: docs/MM_treatment_Episodes.md"
              " at 98ce3291, as shared/reference/omop-notes.md quotes it"))
    ]


def test_omop_concept_ids_are_those_the_omop_notes_give() -> None:
    """shared/reference/omop-notes.md, "Concepts it names", as written there."""
    notes = ("teclistamab 741578, talquetamab 746340, elranatamab 746391, melphalan flufenamide 740067, melphalan 1301267,"
             " cyclophosphamide 1310317, bortezomib 1336825, lenalidomide 19026972, thalidomide 19137042, pomalidomide"
             " 43014237, carfilzomib 42873638, ixazomib 35606214, daratumumab 35605744, isatuximab 37498969, elotuzumab"
             " 35604032, belantamab mafodotin 37002419, selinexor 1361191, venetoclax 35604205, doxorubicin 1338512,"
             " pegylated liposomal doxorubicin 902725, vincristine 1308290, etoposide 1350504, cisplatin 1397599,"
             " fludarabine 1395557, ciltacabtagene autoleucel 779144, idecabtagene vicleucel 36026868")
    given = dict(item.rsplit(" ", 1) for item in notes.split(", "))
    omop = {agent.name: code.code for agent in CATALOG.agents for code in agent.codes if code.system == "OMOP"}
    assert omop == given


def test_every_code_source_names_where_it_was_read() -> None:
    """A repository and path ('owner/name: path') or the guidance notes; never an empty or vague source."""
    for agent in CATALOG.agents:
        for code in agent.codes:
            owner, _, path = code.source.partition(": ")
            assert code.source.startswith("shared/reference/guidance-notes.md") or ("/" in owner and path), (
                f"{agent.name} {code.system} {code.code}: source {code.source!r}"
            )


@pytest.mark.parametrize(
    ("system", "code", "canonical"),
    [
        ("RxNorm", "358258", "bortezomib"),
        ("RxNorm", "342369", "lenalidomide"),
        ("RxNorm", "2594775", "ciltacabtagene autoleucel"),
        ("RxNorm", "2536430", "idecabtagene vicleucel"),
        ("RxNorm", "2387834", "belantamab mafodotin"),
        ("RxNorm", "68442", "filgrastim"),
        ("RxNorm", "1364430", "apixaban"),
        ("ATC", "L01FX32", "elranatamab"),
        ("ATC", "J05AB01", "acyclovir"),
        ("ATC", "J06BA02", "immune globulin"),
    ],
)
def test_codes_from_value_sets_resolve(system: str, code: str, canonical: str) -> None:
    agent = CATALOG.by_code(system, code)
    assert agent is not None and agent.name == canonical


def test_default_catalog_is_read_once() -> None:
    assert load_catalog() is load_catalog()


def _entry(
    name: str = "x1",
    synonyms: str = "[X1b]",
    targets: str | None = "[BCMA]",
    modality: str = "bsab",
    drug_class: str = "t-cell-engager",
    status: str = "approved",
    role: str | None = "anti-myeloma",
    extra: str = "",
) -> str:
    """One agent entry as YAML text; targets=None or role=None leaves the key out."""
    lines = [f"  - name: {name}", f"    synonyms: {synonyms}"]
    lines += [f"    targets: {targets}"] if targets is not None else []
    lines += [f"    modality: {modality}", f"    class: {drug_class}", f"    status: {status}"]
    lines += [f"    role: {role}"] if role is not None else []
    return "\n".join(lines) + "\n" + extra


TECLISTAMAB = _entry(name="teclistamab", synonyms="[Tecvayli]")


def _write(tmp_path: Path, *entries: str, version: int = 1) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(f"version: {version}\nagents:\n" + "".join(entries), encoding="utf-8")
    return path


def test_a_valid_temporary_file_loads(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, TECLISTAMAB, _entry(status="investigational")))
    assert [agent.name for agent in catalog.approved_tcrts()] == ["teclistamab"]
    assert _name(catalog, "x 1b") == "x1"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            _entry(modality="bispecific"),
            "agents[1].modality: 'bispecific' is not one of bsab, car-t, adc, nk-engager, conventional, none",
        ),
        (_entry(role=None), "agents[1].role: missing"),
        (_entry(role="antiviral"), "agents[1].role: 'antiviral' is not one of anti-myeloma, conditioning"),
        (_entry(extra="    contexts: [support]\n"), "agents[1].contexts[0]: 'support' is not one of"),
        (_entry(extra="    contexts: premedication\n"), "agents[1].contexts: expected a list"),
        (_entry(extra="    contexts: [anti-myeloma]\n"), "agents[1].contexts: names the drug's own role 'anti-myeloma'"),
        (_entry(extra="    contexts: [conditioning, conditioning]\n"), "agents[1].contexts: names a role twice"),
        (_entry(role="supportive"), "agents[1].modality: a supportive drug has modality none and targets []"),
        (
            _entry(targets="[CD38]", modality="none", role="premedication"),
            "agents[1].modality: a premedication drug has modality none and targets []",
        ),
        (_entry(modality="none"), "agents[1].modality: an anti-myeloma drug needs a modality other than none"),
        (
            _entry(extra="    codes:\n      - {system: ATC, version: '2024 DE', code: L01FX24}\n"),
            "agents[1].codes[0].source: missing",
        ),
        (
            _entry(extra="    codes:\n      - {version: '2024 DE', code: L01FX24, source: here}\n"),
            "agents[1].codes[0].system: missing",
        ),
        (
            _entry(extra="    codes:\n      - {system: ATC, version: '2024 DE', code: L01FX24, source: ''}\n"),
            "agents[1].codes[0].source: '' is not a non-empty string",
        ),
        (
            _entry(extra="    codes:\n      - {system: ATC, version: '2024 DE', code: 'L1FX24', source: here}\n"),
            "agents[1].codes[0].code: 'L1FX24' is not an ATC code",
        ),
        (_entry(extra="    brand: X\n"), "agents[1].brand: unknown key"),
        (_entry(targets=None), "agents[1].targets: missing"),
        (_entry(targets="BCMA"), "agents[1].targets: expected a list"),
        (_entry(status="marketed"), "agents[1].status: 'marketed' is not one of"),
        (_entry(drug_class="T cell engager"), "agents[1].class: 'T cell engager' is not a kebab-case class name"),
        (_entry(synonyms="[yes]"), "agents[1].synonyms[0]: True is not a non-empty string"),
        (_entry(synonyms="[Tec-Vayli]"), "agents[1].synonyms[0]: 'Tec-Vayli' is also a name of 'teclistamab'"),
        (_entry(name="TECLISTAMAB"), "agents[1].name: 'TECLISTAMAB' is also a name of 'teclistamab'"),
        (_entry(extra="    approved_in: [JP]\n"), "agents[1].approved_in[0]: 'JP' is not one of US, EU, CN"),
        (_entry(extra="    display: {fr: X}\n"), "agents[1].display: 'fr' is not one of zh-CN"),
        (_entry(extra="    display: {zh-CN: 某药}\n"), "agents[1].display.zh-CN: '某药' is not the name or one of the synonyms"),
        (
            _entry(extra="    codes:\n      - {system: ATC, code: L01FX24, source: here}\n"),
            "agents[1].codes[0].version: missing",
        ),
        (
            _entry(extra="    codes:\n      - {system: ATC, version: 2024, code: L01FX24, source: here}\n"),
            "agents[1].codes[0].version: 2024 is not a non-empty string",
        ),
    ],
)
def test_bad_entries_raise_catalog_error_naming_the_path(tmp_path: Path, entry: str, expected: str) -> None:
    path = _write(tmp_path, TECLISTAMAB, entry)
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    assert expected in str(raised.value)
    assert all(problem.startswith(f"{path}: ") for problem in raised.value.problems)
    assert isinstance(raised.value, ValueError)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, _entry(modality="bispecific", status="sold"), version=2)
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    assert [problem.split(": ")[1] for problem in raised.value.problems] == [
        "version",
        "agents[0].modality",
        "agents[0].status",
    ]


def test_two_agents_with_one_code_are_rejected(tmp_path: Path) -> None:
    code = "    codes:\n      - {system: ATC, version: '2024 DE', code: L01FX24, source: here}\n"
    path = _write(tmp_path, TECLISTAMAB + code, _entry(extra=code))
    expected = r"agents\[1\]\.codes\[0\]: ATC L01FX24 is also a code of 'teclistamab'"
    with pytest.raises(CatalogError, match=expected):
        load_catalog(path)


@pytest.mark.parametrize("text", ["- just a list\n", "version: 1\nagents: {}\n", "version: 1\nagents: [\n"])
def test_malformed_files_raise_catalog_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError):
        load_catalog(path)


def test_extended_adds_site_synonyms_and_agents_without_changing_the_original() -> None:
    site_agent = Agent(
        name="site-bsab-1", targets=["GPRC5D"], modality="bsab", drug_class="t-cell-engager", status="investigational"
    )
    site_synonyms = {"TECLI-SC": "teclistamab", "Cilta CAR-T": "Carvykti", "SB1": "site-bsab-1"}
    extended = CATALOG.extended([site_agent], site_synonyms)
    assert {name: _name(extended, name) for name in ["tecli sc", "cilta car t", "sb1"]} == {
        "tecli sc": "teclistamab",
        "cilta car t": "ciltacabtagene autoleucel",
        "sb1": "site-bsab-1",
    }
    assert extended.agents[len(CATALOG.agents) :] == (attrs.evolve(site_agent, synonyms=("SB1",)),)
    assert tuple(agent.name for agent in extended.approved_tcrts()) == APPROVED_TCRTS
    assert CATALOG.lookup("TECLI-SC") is None


def test_extended_rejects_a_synonym_of_another_agent_or_of_an_unknown_agent() -> None:
    with pytest.raises(ValueError, match=r"'Tal-vey'.*'talquetamab'"):
        CATALOG.extended(synonyms={"Tal-vey": "teclistamab"})
    with pytest.raises(ValueError, match="'XYZ'"):
        CATALOG.extended(synonyms={"XYZ": "no-such-drug"})
    assert _name(CATALOG.extended(synonyms={"tecvayli": "teclistamab"}), "Tecvayli") == "teclistamab"


def test_extended_rejects_an_agent_whose_name_is_taken() -> None:
    clash = Agent(name="Tecvayli", targets=["BCMA"], modality="bsab", drug_class="t-cell-engager", status="approved")
    with pytest.raises(ValueError, match="'Tecvayli' is also a name of 'teclistamab'"):
        CATALOG.extended([clash])


def test_agents_validate_modality_and_status() -> None:
    with pytest.raises(ValueError):
        Agent(name="x", targets=[], modality="bispecific", drug_class="t-cell-engager", status="approved")
    with pytest.raises(ValueError):
        Catalog([Agent(name="-", targets=[], modality="adc", drug_class="adc", status="approved")])


def test_a_line_is_shown_by_the_regimen_its_agents_make() -> None:
    kpd = CATALOG.regimen(CATALOG.lookup(n) for n in ("Kyprolis", "pomalidomide", "dexamethasone"))
    assert kpd is not None and (kpd.abbreviation, kpd.name) == ("KPd", "carfilzomib, pomalidomide and dexamethasone")
    assert CATALOG.regimen(CATALOG.lookup(n) for n in ("carfilzomib", "pomalidomide")) is None  # exactly its agents
    assert CATALOG.extended([], {"SITE-KYP": "carfilzomib"}).regimens == CATALOG.regimens


def test_every_regimen_names_catalog_agents_and_no_two_name_the_same_combination() -> None:
    assert len(CATALOG.regimens) >= 25
    names = {agent.name for agent in CATALOG.agents}
    assert all(r.agents <= names and len(r.agents) >= 2 and (r.abbreviations or r.status) for r in CATALOG.regimens)
    assert len({r.agents for r in CATALOG.regimens}) == len(CATALOG.regimens)


@pytest.mark.parametrize("regimen, expected", [
    ('{name: "x", agents: [teclistamab, dexamethas], abbreviations: [X]}', "regimens[0].agents: 'dexamethas' is not a canonical agent name"),
    ('{name: "x", agents: [teclistamab], abbreviations: [X]}', "regimens[0].agents: expected at least two agents"),
    ('{name: "x", agents: [teclistamab, teclistamab], abbreviations: []}', "regimens[0].abbreviations: expected at least one"),
    ('{name: "x", agents: [teclistamab, elranatamab], abbreviations: [X], colour: red}', "regimens[0].colour: unknown key"),
])
def test_a_bad_regimen_is_an_error_naming_its_path(tmp_path: Path, regimen: str, expected: str) -> None:
    path = _write(tmp_path, TECLISTAMAB, _entry(name="elranatamab"))
    path.write_text(path.read_text(encoding="utf-8") + f"regimens:\n  - {regimen}\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert any(expected in p for p in caught.value.problems), caught.value.problems
