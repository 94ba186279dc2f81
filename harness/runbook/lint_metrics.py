"""The metric names the TestGen service exports, read from its source with `ast`, for
`gameday lint`'s check of `curl .../metrics | grep NAME` (nothing is scraped)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import harness

METRICS_SOURCE = Path(harness.__file__).parent / "services" / "testgen" / "metrics.py"
METRICS_SERVICE = "testgen"  # the compose service that runs harness.services.testgen
# prometheus_client's ProcessCollector (Linux): what `ProcessCollector(registry=...)` adds.
PROCESS_METRICS = (
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
)
_SUFFIXES = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_count", "_sum", "_created"),
    "Summary": ("_count", "_sum", "_created"),
    "Info": ("_info",),
    "Enum": ("",),
}


@dataclass
class MetricUse:
    name: str
    line: int
    exported: bool


def exported_metrics(source: Path = METRICS_SOURCE) -> list[str]:
    """Metric sample names the service exports, read from its source with `ast`."""
    tree = ast.parse(source.read_text(encoding="utf-8"), str(source))
    names: list[str] = []
    process = False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = (
            node.func.id
            if isinstance(node.func, ast.Name)
            else (node.func.attr if isinstance(node.func, ast.Attribute) else "")
        )
        if func == "ProcessCollector":
            process = True
        if (
            func in _SUFFIXES
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            base = node.args[0].value
            if func == "Counter":
                base = base.removesuffix("_total")
            names += [base + suffix for suffix in _SUFFIXES[func]]
    if process:
        names += PROCESS_METRICS
    return sorted(set(names))
