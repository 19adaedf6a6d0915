"""Tumor-board preparation (needs the ``board`` extra): a batch of patients for one board date.

- :mod:`.build`: evaluate the batch (:func:`build_board`), the overview rows;
- :mod:`.geometry`: each patient's treatment timeline as drawing geometry;
- :mod:`.report`: the HTML and Markdown renderings (Jinja2 templates under ``templates/``);
- :mod:`.command`: the ``mmsequence board`` subcommand.
"""

from .build import (
    Alternative,
    Board,
    FailedInput,
    PatientReport,
    Reference,
    SummaryRow,
    assemble_board,
    build_board,
    collect_inputs,
)

__all__ = ["Alternative", "Board", "FailedInput", "PatientReport", "Reference", "SummaryRow", "assemble_board", "build_board",
           "collect_inputs"]
