"""OMOP standard concepts the audit uses by default, each with the source it was read from.

A site's policy overrides every default (``omop.myeloma``, ``omop.car_t_infusion``,
``omop.apheresis``); a default is used only where the policy does not name that key.

Sources:

- ``LAMBDA``: OHDSI ``ETL-LambdaBuilder``, ``docs/MM_treatment_Episodes.md`` ("Multiple myeloma
  treatment episodes in EPISODE. Creation logic", file commit
  98ce329114f289d691c783e689823a07aaa15af5): the myeloma condition, the myeloma drug codeset
  (appendix 1), the CAR-T codes (appendix 2), the apheresis and transplant procedures (appendix
  3), the EPISODE concepts and the episode type.
- ``LAMBDA_ETL``: the same repository at commit 2c028cd07d8bc1dc3935e2017efcd370c8f370a8:
  ``PersonBuilder.cs`` (the EPISODE_EVENT field concepts: ``1147094 // drug_exposure.drug_exposure_id``,
  ``1147082 // procedure_occurrence.procedure_occurrence_id``) and its ETL documents for type,
  gender, race and ethnicity concepts (``CPRD_Additional_STEM.md``: 32817 EHR;
  ``CPRD_Immunisation_STEM.md``: 32818 EHR administration; ``CPRD_Therapy_STEM.md``: 32838 EHR
  prescription; ``CPRD_Observation_Period.md``: 32880 Standard algorithm; ``CPRD_Person.md``:
  8507 and 8532; ``MDCD_person.md``: 8527 White, 8516 Black, 38003563 Hispanic or Latino;
  ``Optum_Panther_Person.md``: 8515 Asian, 38003564 Not Hispanic).
"""

from __future__ import annotations

LAMBDA = ("OHDSI ETL-LambdaBuilder docs/MM_treatment_Episodes.md"
          " (commit 98ce329114f289d691c783e689823a07aaa15af5)")
LAMBDA_ETL = "OHDSI ETL-LambdaBuilder (commit 2c028cd07d8bc1dc3935e2017efcd370c8f370a8)"

#: Multiple myeloma (SNOMED-derived standard condition); its descendants count too.
MULTIPLE_MYELOMA = 437233

#: The myeloma drug codeset of the OHDSI line logic (appendix 1 and the CAR-T products of
#: appendix 2): standard RxNorm (Extension) ingredient concept -> name as the document gives it.
MYELOMA_DRUGS: dict[int, str] = {
    740067: "melphalan flufenamide", 741578: "teclistamab", 746340: "talquetamab", 746391: "elranatamab",
    902725: "doxorubicin pegylated liposomal", 902728: "vincristine liposomal", 1301267: "melphalan",
    1308290: "vincristine", 1310317: "cyclophosphamide", 1336825: "bortezomib", 1338512: "doxorubicin",
    1350504: "etoposide", 1361191: "selinexor", 1395557: "fludarabine", 1397599: "cisplatin",
    19026972: "lenalidomide", 19137042: "thalidomide", 35604032: "elotuzumab", 35604205: "venetoclax",
    35605744: "daratumumab", 35606214: "ixazomib", 36849790: "4-hydroxycyclophosphamide",
    36858740: "fludarabine F-18", 37002419: "belantamab mafodotin", 37002429: "belantamab",
    37498969: "isatuximab", 42873638: "carfilzomib", 43014237: "pomalidomide",
    779144: "ciltacabtagene autoleucel", 36026868: "idecabtagene vicleucel",
}
#: CAR-T introduction procedures (peripheral and central vein): the product is the same day's drug.
CAR_T_INFUSION = (43018384, 43018388)
#: Harvesting of blood-derived T lymphocytes for CAR-T manufacturing.
T_CELL_COLLECTION = 927059
#: Stem-cell transplant procedures: appendix 3, its concepts from 4,000,000 up (the lower ids are
#: procedure source codes, most marked deprecated there).
STEM_CELL_TRANSPLANT = (4028623, 4059885, 4081380, 4083057, 4120445, 4121104, 4122920, 4125486, 4125487,
                        4125488, 4139690, 4142405, 4143404, 4144157, 4144882, 4145532, 4186582, 4240337,
                        4242257, 37152106, 40484034, 40486968, 40492289, 44514755, 44515878, 44783964,
                        44790154, 44793170, 46271079)

# EPISODE (CDM v5.4 oncology)
TREATMENT_REGIMEN = 32531
CANCER_DRUG_TREATMENT = 32941  # the OHDSI ETL's concept for a line of therapy
STANDARD_ALGORITHM = 32880  # episode type, and observation period type
DRUG_EXPOSURE_ID_FIELD = 1147094
PROCEDURE_OCCURRENCE_ID_FIELD = 1147082

# Type, gender, race and ethnicity concepts (the synthetic CDM writes these)
EHR = 32817
EHR_ADMINISTRATION = 32818
EHR_PRESCRIPTION = 32838
MALE, FEMALE = 8507, 8532
WHITE, BLACK, ASIAN = 8527, 8516, 8515
HISPANIC, NOT_HISPANIC = 38003563, 38003564
