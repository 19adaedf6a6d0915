"""The ``mmsequence fhir-import`` subcommand: what a Bundle reads as, before any evaluation."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..history import read_document
from .importer import from_bundle


def add_fhir_command(commands: Any) -> None:
    """Add ``fhir-import`` to the CLI's subcommands."""
    command = commands.add_parser(
        "fhir-import", help="print the history read from a FHIR Bundle, how each line was formed, and what was not used")
    command.add_argument("file", help="FHIR R4 Bundle (JSON)")
    command.set_defaults(run=_import)


def _import(args: argparse.Namespace) -> str:
    return json.dumps(from_bundle(read_document(args.file)).to_dict(), indent=2, ensure_ascii=False) + "\n"
