"""The runbook: its model, the Markdown parser, and the linter.
"""
