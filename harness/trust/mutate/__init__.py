"""`gameday mutate`: runbook mutation testing, in rooms of one concern each.

derive.py    the mutants: one step changed, as a careless edit would change it
classify.py  why a survivor survived, from the records of the two runs
record.py    the record of a mutation run (saved as `--json`)
render.py    its views: the table, the score line, the Markdown report
run.py       the unmutated and mutant gamedays, and `main` (the command)
"""

from harness.trust.mutate.classify import classify_survivor
from harness.trust.mutate.derive import (
    Mutant,
    Untouched,
    derive_mutants,
    drop_fail,
    or_true,
    wrong_service_variants,
)
from harness.trust.mutate.record import MutationReport
from harness.trust.mutate.render import score_line, table, to_markdown
from harness.trust.mutate.run import MutationRun, main

__all__ = [
    "Mutant",
    "MutationReport",
    "MutationRun",
    "Untouched",
    "classify_survivor",
    "derive_mutants",
    "drop_fail",
    "main",
    "or_true",
    "score_line",
    "table",
    "to_markdown",
    "wrong_service_variants",
]
