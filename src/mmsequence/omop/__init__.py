"""OMOP CDM input (the ``omop`` extra): a retrospective concordance audit of TCRT decisions.

The reader turns a person's CDM records into the same :class:`~mmsequence.history.PatientHistory`
the FHIR path produces (:mod:`.chart`, :mod:`.decisions`); each start of a T-cell redirecting
therapy is a decision, assessed with the history of the day before (:mod:`.concordance`).
``mmsequence audit`` runs it over a DuckDB file, Parquet folders or PostgreSQL (:mod:`.audit`,
:mod:`.sources`), or as a Spark job (:mod:`.spark`); :mod:`.synthetic` writes a CDM whose answers
are known. What a site's concepts mean is the ``omop`` section of its policy (:mod:`.mapping`).

Importing this package imports no database, Arrow or plotting library; each module imports
what it uses when it is used.
"""
