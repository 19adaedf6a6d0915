"""The ``mmsequence fhir-import`` subcommand: what a Bundle reads as, before any evaluation."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..documents import load_json
from ..policy import load_policy


def add_fhir_command(commands: Any) -> None:
    """Add ``fhir-import`` to the CLI's subcommands."""
    command = commands.add_parser(
        "fhir-import", help="print the history read from a FHIR Bundle, how each line was formed, and what was not used")
    command.add_argument("file", help="FHIR R4 Bundle (JSON)")
    command.add_argument("--policy", help="site policy file (YAML or JSON): its own drug names and codes")
    command.set_defaults(run=_import)


def _import(args: argparse.Namespace) -> str:
    from ..evaluator import evaluator_for
    from .importer import import_report, read_bundle

    evaluator = evaluator_for(load_policy(args.policy))
    history = read_bundle(load_json(args.file), evaluator.catalog, observations=evaluator.policy.observation_codes())
    return json.dumps(import_report(history), indent=2, ensure_ascii=False) + "\n"
