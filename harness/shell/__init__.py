"""One reader of runbook command text: which commands change state, which need a person.
"""
