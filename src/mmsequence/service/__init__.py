"""The CDS Hooks 2.0 service (needs the ``service`` extra): ``mmsequence serve``.

Modules: ``trust`` (the trust file: issuers, their JWK Sets, FHIR servers and audiences),
``keys`` (JWK Sets, fetched and cached outside the request path), ``auth`` (the EHR's JWT),
``hooks`` (service definitions, hook requests, prefetch), ``fhir_client`` (reads what prefetch
lacks, bound to the issuer's FHIR servers and limits), ``cards`` (the cards and all their words),
``store`` (feedback, issued cards and seen token ids in SQLite), ``app`` (the Starlette
application) and ``command`` (the ``serve`` subcommand).
"""
