"""The harness's own view of the service, independent of the runbook: steady-state probes and
the background load with its ledger of acknowledged writes.
"""
