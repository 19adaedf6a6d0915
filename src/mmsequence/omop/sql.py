"""The SQL the audit runs, the same on DuckDB, PostgreSQL and Spark SQL (only type names differ).

Every value placed in a query is a whole number from the database or the policy (cast with
``int``) or a vocabulary id quoted as an SQL string; nothing else is interpolated.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .chart import DOMAINS, TABLES
from .mapping import OmopMapping


@attrs.frozen
class Dialect:
    double: str = "DOUBLE"
    text: str = "VARCHAR"


DUCKDB = Dialect()
POSTGRES = Dialect(double="DOUBLE PRECISION", text="TEXT")
SPARK = Dialect(double="DOUBLE", text="STRING")

#: The CDM tables an audit reads.
CDM_TABLES = ("concept", "concept_ancestor", "condition_occurrence", "drug_exposure", "procedure_occurrence",
              "observation", "measurement")


#: The oncology tables a site may have (read with ``--lines both``, written with ``--write-episodes``).
EPISODE_TABLES = ("episode", "episode_event")


def ids(values: Iterable[int]) -> str:
    """A list of whole numbers for ``IN (...)``; never empty (0 is no concept and no person)."""
    text = ", ".join(str(int(v)) for v in values)
    return text or "0"


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def ingredients_sql(mapping: OmopMapping) -> str:
    """(drug concept, ingredient id, name, vocabulary, code) for every drug concept in drug_exposure."""
    vocabularies = ", ".join(_string(v) for v in mapping.ingredient_vocabularies)
    return f"""SELECT d.drug_concept_id, i.concept_id, i.concept_name, i.vocabulary_id, i.concept_code
FROM (SELECT DISTINCT drug_concept_id FROM drug_exposure) d
JOIN concept_ancestor ca ON ca.descendant_concept_id = d.drug_concept_id
JOIN concept i ON i.concept_id = ca.ancestor_concept_id
WHERE i.concept_class_id = 'Ingredient' AND i.vocabulary_id IN ({vocabularies})"""


def atc_sql(mapping: OmopMapping) -> str:
    """(ingredient id, ATC code) for those ingredients."""
    return f"""SELECT ca.descendant_concept_id, a.concept_code
FROM concept_ancestor ca JOIN concept a ON a.concept_id = ca.ancestor_concept_id
WHERE a.vocabulary_id = 'ATC' AND ca.descendant_concept_id IN (SELECT concept_id FROM ({ingredients_sql(mapping)}) ing)"""


DRUG_NAMES_SQL = """SELECT c.concept_id, c.concept_name FROM concept c
WHERE c.concept_id IN (SELECT DISTINCT drug_concept_id FROM drug_exposure)"""


def myeloma_sql(mapping: OmopMapping) -> str:
    """The myeloma concepts and their descendants."""
    return f"""SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id IN ({ids(sorted(mapping.myeloma))})"""


def cohort_sql(myeloma: Iterable[int], after: int | None = None, limit: int | None = None) -> str:
    """The persons with a myeloma condition; with ``limit``, the next page in order of person_id."""
    where = f" AND person_id > {int(after)}" if after is not None else ""
    page = f" ORDER BY person_id LIMIT {int(limit)}" if limit is not None else ""
    return (f"SELECT DISTINCT person_id FROM condition_occurrence WHERE condition_concept_id IN ({ids(sorted(myeloma))})"
            f"{where}{page}")


def _kept(domain: str, read: Iterable[int], myeloma: Iterable[int], kept: bool = True) -> str:
    """Whether a non-drug record of ``domain`` is one the chart reads (with ``kept`` false: one it
    does not): its concept (a missing one is 0) one the site maps, or for a condition a myeloma one."""
    concepts = set(read) | (set(myeloma) if domain == "condition" else set())
    test = f"COALESCE({domain}_concept_id, 0) IN ({ids(sorted(concepts))})"
    return test if kept else f"NOT ({test})"


def records_sql(dialect: Dialect, persons: str, read: Iterable[int], myeloma: Iterable[int],
                ordered: bool = True) -> str:
    """Every record of the persons (``persons``: a list of ids, or a subquery) that the chart reads,
    one row format, ordered by person, domain and record (unless ``ordered`` is false): every drug
    exposure, and the other records whose concept is one the site maps (``read``; for conditions,
    the ``myeloma`` concepts too). Each column is cast to its type (a missing concept is 0), so
    every engine gives rows that are :class:`~.chart.Row` as they are. The other records (a
    hospital's labs and diagnoses: most of a real chart) are only counted, by :func:`unmapped_sql`."""
    d, t = dialect.double, dialect.text

    def common(domain: str, record: str, concept: str, start: str, end: str | None = None) -> str:
        return (f"SELECT CAST(person_id AS BIGINT) AS person_id, '{domain}' AS domain, CAST({record} AS BIGINT) AS record_id,"
                f" CAST(COALESCE({concept}, 0) AS BIGINT) AS concept_id, CAST({start} AS DATE) AS start_date,"
                f" CAST({end or 'NULL'} AS DATE) AS end_date")

    def values(number: str, concept: str, text: str, unit: str) -> str:
        return (f"CAST({number} AS {d}) AS value_number, CAST({concept} AS BIGINT) AS value_concept_id,"
                f" CAST({text} AS {t}) AS value_text, CAST({unit} AS BIGINT) AS unit_concept_id")

    nothing = values("NULL", "NULL", "NULL", "NULL")
    drug = common("drug", "drug_exposure_id", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date")
    return f"""{drug}, {nothing}
FROM drug_exposure WHERE person_id IN ({persons})
UNION ALL
{common("procedure", "procedure_occurrence_id", "procedure_concept_id", "procedure_date")}, {nothing}
FROM procedure_occurrence WHERE person_id IN ({persons}) AND {_kept("procedure", read, myeloma)}
UNION ALL
{common("observation", "observation_id", "observation_concept_id", "observation_date")},
  {values("value_as_number", "value_as_concept_id", "value_as_string", "unit_concept_id")}
FROM observation WHERE person_id IN ({persons}) AND {_kept("observation", read, myeloma)}
UNION ALL
{common("measurement", "measurement_id", "measurement_concept_id", "measurement_date")},
  {values("value_as_number", "value_as_concept_id", "NULL", "unit_concept_id")}
FROM measurement WHERE person_id IN ({persons}) AND {_kept("measurement", read, myeloma)}
UNION ALL
{common("condition", "condition_occurrence_id", "condition_concept_id", "condition_start_date")},
  {nothing}
FROM condition_occurrence WHERE person_id IN ({persons}) AND {_kept("condition", read, myeloma)}""" + (
        "\nORDER BY 1, 2, 3" if ordered else "")


def unmapped_sql(persons: str, read: Iterable[int], myeloma: Iterable[int], ordered: bool = True) -> str:
    """(person, domain, concept, records) of the records of the persons that :func:`records_sql`
    leaves out: the records whose concept the site maps to nothing, counted without being read
    (ordered by person, domain and concept unless ``ordered`` is false)."""
    union = "\nUNION ALL\n".join(
        f"SELECT CAST(person_id AS BIGINT) AS person_id, '{domain}' AS domain,"
        f" CAST(COALESCE({domain}_concept_id, 0) AS BIGINT) AS concept_id FROM {TABLES[domain]}"
        f" WHERE person_id IN ({persons}) AND {_kept(domain, read, myeloma, kept=False)}"
        for domain in DOMAINS if domain != "drug")
    return (f"SELECT person_id, domain, concept_id, COUNT(*) AS records FROM ({union}) unmapped"
            " GROUP BY person_id, domain, concept_id" + (" ORDER BY 1, 2, 3" if ordered else ""))


def concept_names_sql(concepts: Iterable[int]) -> str:
    return f"SELECT concept_id, concept_name, vocabulary_id FROM concept WHERE concept_id IN ({ids(concepts)})"
