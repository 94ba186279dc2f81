"""Checks that the harness's verdicts can fail: runbook mutants, repeatability, the Hypothesis
chaos machine.
"""
