"""`gameday lint --coverage`: which runbook section answers each fault of the scenario
catalog, per compose service. A view of the catalog against a runbook, so it lives with the
catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.compose import ComposeFile
from harness.runbook.model import Role, Step
from harness.runbook.parse import parse_runbook
from harness.suite import catalog


def _lines(lines: list[int]) -> str:
    ordered = sorted(lines)
    return ("line " if len(ordered) == 1 else "lines ") + ", ".join(map(str, ordered))


# -- coverage: compose service x fault kind -> the section that answers it ------------------


def _acts_on(step: Step, service: str, container: str) -> bool:
    """Does a resolution step act on the service: names it (service, container or a
    variable such as LOCAL_LLM_ENABLED for `llm`), or starts everything (`up -d` alone)?"""
    command = step.command.split("#", 1)[0]
    words = command.split()
    if words[:3] == ["docker-compose", "up", "-d"] and not [
        w for w in words[3:] if not w.startswith("-")
    ]:
        return True
    text = command.lower()
    return service.lower() in text or container.lower() in text


@dataclass
class CoverageCell:
    service: str
    kind: str
    answered_by: list[str] = field(default_factory=list)  # section titles
    gaps: list[str] = field(default_factory=list)  # scenario: why its section does not answer

    @property
    def text(self) -> str:
        if self.answered_by:
            return "; ".join(dict.fromkeys(t.split(":", 1)[0] for t in self.answered_by))
        return "**none**" if self.gaps else "·"


def coverage(runbook_path: str | Path, compose_path: str | Path) -> list[CoverageCell]:
    """Each compose service × each fault kind: the runbook sections that answer the catalog's
    scenarios for it. A section answers when its resolution steps act on the service."""
    runbook = parse_runbook(runbook_path)
    compose = ComposeFile(compose_path)
    configs, _ = compose.resolve({})
    scenarios = catalog.for_runbook(runbook_path).values()
    cells = []
    for service, config in configs.items():
        for kind in catalog.fault_kinds():
            cell = CoverageCell(service, kind)
            for s in scenarios:
                if not any(
                    f.kind == kind and service in catalog.target_services(f) for f in s.faults
                ):
                    continue
                try:
                    section = runbook.section(s.section)
                except KeyError:
                    cell.gaps.append(f"{s.id}: the runbook has no section {s.section!r}")
                    continue
                resolution = section.steps_with_role(Role.RESOLUTION)
                if not resolution:
                    cell.gaps.append(f"{s.id}: {section.title!r} has no resolution step")
                elif any(_acts_on(step, service, config.container_name) for step in resolution):
                    cell.answered_by.append(section.title)
                else:
                    cell.gaps.append(
                        f"{s.id}: no resolution step of {section.title!r} "
                        f"({_lines([step.line for step in resolution])}) acts on {service}"
                    )
            cells.append(cell)
    return cells


def coverage_table(runbook_path: str | Path, compose_path: str | Path) -> str:
    """`gameday lint --coverage`: the coverage matrix as Markdown, then each gap in words."""
    cells = coverage(runbook_path, compose_path)
    kinds = catalog.fault_kinds()
    services = list(dict.fromkeys(c.service for c in cells))
    by = {(c.service, c.kind): c for c in cells}
    out = [
        f"# Coverage of {runbook_path}",
        "",
        "Which runbook section answers each fault of the scenario catalog, per compose service "
        "(· no scenario injects it; **none**: a scenario does, and no section answers it).",
        "",
        "| service | " + " | ".join(kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    for service in services:
        out.append(f"| {service} | " + " | ".join(by[service, k].text for k in kinds) + " |")
    gaps = [(c, g) for c in cells for g in c.gaps]
    out += ["", "Gaps:" if gaps else "No gaps: every injected fault has a section answering it."]
    out += [f"- {c.service} × {c.kind}: {g}" for c, g in gaps]
    answered = {c.service for c in cells if c.answered_by}
    silent = [s for s in services if s not in answered and any(by[s, k].gaps for k in kinds)]
    if silent:
        out.append(f"- no section answers any fault of: {', '.join(silent)}")
    return "\n".join(out) + "\n"
