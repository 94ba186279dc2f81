"""Running one gameday: the runner gathers phase records (gameday), the verdict is a pure
function of them (verdict), and a scenario says which fault meets which runbook section
(scenario).
"""
