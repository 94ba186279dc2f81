"""Each fault-checking rule removed in turn, and its tests run: every line must show failures.

    python tests/catalog/rule_mutations.py [WORDS…]     (only the rules whose name has WORDS)

Not a test module (pytest does not collect it): it edits the source, one rule at a time, runs
that rule's tests, and restores the file in a `finally`. Run it on a clean checkout.
"""
# ruff: noqa: E501 - the table quotes source lines whole, so that each matches exactly once

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
P = "tests/catalog/test_fault_params.py"
E = "tests/catalog/test_fault_effects.py"
C = "tests/catalog/test_bad_input_cli.py"
X = "tests/test_extension_points.py::test_a_new_fault_is_one_module_and_a_toml_entry"
MUTATIONS = [
 ("port actually squatted", "harness/faults/port_conflict.py", "        squatted = answer == SQUATTER_ANSWER", "        squatted = True", [E]),
 ("provider answers the set mode", "harness/faults/llm_provider.py", "        if mode == self.mode and served > 0:", "        if True:", [E]),
 ("memory held at the level set", "harness/faults/memory_pressure.py", "        if usage.memory_bytes >= 0.8 * limit * self.share:", "        if True:", [E]),
 ("service seen down", "harness/faults/service_killed.py", "        if state is None or state.status == Status.EXITED:", "        if True:", [E]),
 ("unknown parameter", "harness/faults/params.py", "        if param is None:\n            close", "        if param is None:\n            continue\n            close", [P]),
 ("wrong type", "harness/faults/params.py", "        if not _fits(value, self.kind, self.item):", "        if False:", [P]),
 ("out of range", "harness/faults/params.py", "            if isinstance(v, int | float) and not (", "            if False and not (", [P]),
 ("not a choice", "harness/faults/params.py", "            if self.choices and v not in self.choices:", "            if False:", [P]),
 ("name pattern", "harness/faults/params.py", "            if self.pattern and not re.fullmatch(self.pattern, v):", "            if False:", [P, X]),
 ("required parameter", "harness/faults/params.py", "    if missing:\n        problems.append", "    if False:\n        problems.append", [P]),
 ("toxic attributes per type", "harness/faults/network.py", "        return cls.params + TOXIC_ATTRIBUTES.get(str(given.get(\"toxic\", \"latency\")), ())", "        import dataclasses\n        return cls.params + tuple(dataclasses.replace(p, required=False) for a in TOXIC_ATTRIBUTES.values() for p in a)", [P]),
 ("below another attribute", "harness/faults/network.py", "            if not problems and isinstance(low, int) and isinstance(high, int) and low >= high:", "            if False:", [P]),
 ("line of the key (fault tables)", "harness/suite/catalog.py", "        raise ScenarioError(f\"{lines.at_fault(index, table, key)}: {message}\")", "        raise ScenarioError(f\"{lines.at(index)}: {message}\")", [P]),
 ("params declared = __init__", "harness/faults/base.py", "    if sorted(taken) != sorted(declared):", "    if False:", [P]),
 ("discovery by pkgutil", "harness/faults/__init__.py", "pkgutil.iter_modules(__path__, ", "pkgutil.iter_modules(__path__[:1], ", [X]),
 ("latency >= 80 %", "harness/faults/network.py", "        if added >= needed:", "        if added >= 0:", [E]),
 ("latency 0 asked is no effect", "harness/faults/network.py", "        if asked <= 0:", "        if False:", [E]),
 ("bandwidth at or below rate", "harness/faults/network.py", "        if measured > rate * RATE_SLACK:", "        if False:", [E]),
 ("bandwidth below the link's own speed", "harness/faults/network.py", "        if without <= rate:", "        if False:", [E]),
 ("timeout/reset make requests fail", "harness/faults/network.py", "            if probe.round_trip(timeout=3.0) is None:", "            if True:", [E]),
 ("data limit closes the connection", "harness/faults/network.py", "        if through is None:\n            return f\"link {self.link}: a connection passing", "        if True:\n            return f\"link {self.link}: a connection passing", [E]),
 ("cut link fails", "harness/faults/network.py", "            if not info[\"enabled\"] and probe.round_trip(timeout=1.0) is None:", "            if True:", [E]),
 ("toxic must be listed", "harness/faults/network.py", "        if not any(t[\"name\"] == f\"gameday_{self.toxic}\" for t in info[\"toxics\"]):\n            return self._short", "        if False:\n            return self._short", [E]),
 ("'fault not in effect' abort text", "harness/faults/base.py", "                raise FaultNotTaken(f\"fault not in effect: {measured} (within {timeout:.0f} s)\")", "                raise FaultNotTaken(f\"{self.kind}: never observed within {timeout:.0f}s\")", [E]),
 ("lint checks scenarios and compose", "harness/cli.py", "    require_services(check_compose(args.compose), [j.scenario for j in jobs])", "    pass", [C]),
 ("lint checks scenario files", "harness/cli.py", "    jobs = execute.plan([parse_runbook(Path(args.runbook).resolve())])", "    jobs = []", [C]),
]
only = sys.argv[1:]
for name, f, old, new, tests in MUTATIONS:
    if only and not any(o in name for o in only):
        continue
    path = ROOT / f
    text = path.read_text()
    assert text.count(old) == 1, (name, text.count(old))
    path.write_text(text.replace(old, new))
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", *tests, "-q", "--backend", "local", "-p", "no:randomly"],
                              cwd=ROOT, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]
        failed = re.findall(r"FAILED (\S+)", proc.stdout)
        print(f"{name:<40} rc={proc.returncode} {tail}  e.g. {failed[:1]}", flush=True)
    finally:
        path.write_text(text)
