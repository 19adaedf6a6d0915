"""The CDS Hooks 2.0 service (needs the ``service`` extra): ``mmsequence serve``.

Modules: ``hooks`` (service definitions, hook requests, prefetch), ``auth`` (the EHR's JWT),
``store`` (feedback and seen token ids in SQLite), ``fhir_client`` (reads what prefetch lacks),
``app`` (the Starlette application) and ``command`` (the ``serve`` subcommand).
"""
