"""pytest-html hooks: per gameday test its step table, timeline and verdict; a summary on top.

Registered by `harness.suite.plugin` when pytest-html is importable:

    config.pluginmanager.register(html_plugin, "gameday-html")

Its `pytest_configure` then registers one `GamedayHtml` per pytest run, which holds that
run's rows (so two `pytest.main` calls in one process never share state). The rows come
from each report's `user_properties` ("gameday", `GamedayResult.to_dict()`), the same
record the JSON is written from, and those travel with reports under pytest-xdist too.
Every string from a result is HTML-escaped where it meets markup.

The plugin also replaces pytest-html's furniture where it would mislead a gameday reader:
the page title names the runbooks, the environment table leads with the backend, the
runbooks and the harness version, and the "No log output captured." line under every
passing gameday is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from harness.reports._format import (
    BASELINE_FAILING,
    BASELINE_FAILING_COLOUR,
    STATUS_COLOURS,
    VERDICT_COLOURS,
    VERDICT_MEANINGS,
    command_text,
    esc,
    excerpt,
    incident_end,
    is_baseline_failing,
    runbook_stem,
    seconds,
    shown,
    shown_output,
)
from harness.reports.timeline_svg import timeline_svg
from harness.result import GamedayResult, StepRun, StepStatus, Verdict

PLUGIN_NAME = "gameday-html"
_INSTANCE_NAME = "gameday-html-report"

CSS = """
.gd{font:13px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;
    color:#212121;margin:8px 0 14px}
.gd h3{font-size:15px;margin:6px 0}
.gd table{border-collapse:collapse;margin:6px 0 10px}
.gd th,.gd td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
.gd th{background:#f5f5f5;font-weight:600}
.gd td.num{text-align:right;white-space:nowrap}
.gd code,.gd pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.gd pre{margin:0;white-space:pre-wrap;word-break:break-word;max-width:60em;font-size:11px}
.gd .badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;
    white-space:nowrap}
.gd .status{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-size:12px;
    white-space:nowrap}
.gd .muted{color:#757575}
.gd details summary{cursor:pointer;color:#1565c0}
.gd .facts th{width:11em}
.gd .timeline{margin:8px 0;overflow-x:auto}
.gd .meaning{font-style:italic}
.gd .unchecked{border-left:4px solid #f9a825;background:#fff8e1;padding:4px 10px;margin:6px 0}
.gd .unchecked ul{margin:2px 0 2px 18px;padding:0}
.gd .finding{border-left:4px solid #6a1b9a;padding-left:6px}
"""
NO_LOG = "No log output captured."
DASH = '<span class="muted">-</span>'


def badge(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#424242")
    return f'<span class="badge gd-verdict" style="background:{colour}">{esc(verdict)}</span>'


def verdict_text(verdict: str, reason: str = "") -> str:
    """A verdict's badge, what it means where the name alone would mislead, and the reason."""
    meaning = VERDICT_MEANINGS.get(verdict)
    if meaning and meaning.split(" once")[0].lower() in reason.lower():
        meaning = None  # the reason already says it: never the same sentence twice
    return (
        badge(verdict)
        + (f' <span class="meaning">{esc(meaning)}</span>' if meaning else "")
        + (f" {esc(reason)}" if reason else "")
    )


def _status(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#9e9e9e")
    if status == BASELINE_FAILING:
        colour = BASELINE_FAILING_COLOUR
    text_colour = "#212121" if status in ("skipped",) else "#fff"
    return (
        f'<span class="status" style="background:{colour};color:{text_colour}">{esc(status)}</span>'
    )


def step_status(result: GamedayResult, step: StepRun) -> str:
    """The status a reader should see. A step that fails on the healthy stack is "failing at
    baseline" (every steady-state run is on the healthy stack), never a plain "failed",
    which would read as the fault's doing, nor anything that looks like it went well."""
    failing = step.status in (StepStatus.FAILED, StepStatus.TIMED_OUT)
    if failing and (step.phase == "steady-state" or is_baseline_failing(result, step)):
        return BASELINE_FAILING
    return step.status.value


def unchecked_html(result: GamedayResult) -> str:
    """What this verdict did not check, above the facts, where nobody misses it."""
    if not result.unchecked:
        return ""
    items = "".join(f"<li>{esc(shown(result, u))}</li>" for u in result.unchecked)
    return (
        f'<div class="unchecked gd-unchecked"><strong>Not checked by this verdict '
        f"({len(result.unchecked)})</strong><ul>{items}</ul></div>"
    )


def _recovery(result: GamedayResult) -> str:
    if result.ttr_s is None:
        return esc(seconds(None))
    text = f"first seen {seconds(result.ttr_s)} after t0"
    if result.recovery_confirmed_s is not None:
        text += (
            f"; confirmed at {seconds(result.recovery_confirmed_s)} after steady state held "
            f"{seconds(result.hold_s)} with no restart"
        )
    elif result.hold_s:
        text += f"; hold window {seconds(result.hold_s)}"
    return esc(text)


def _fault_check(result: GamedayResult) -> str:
    check = result.fault_check
    if not check.checked:
        return '<span class="muted">not checked (the injector has no check for this fault)</span>'
    state = "still present" if check.present else "gone"
    return f"<strong>{state}</strong> when recovery was judged" + (
        f": {esc(shown(result, check.evidence))}" if check.evidence else ""
    )


def finding_html(result: GamedayResult) -> str:
    """The second finding: what the resolution achieved after the missed detection."""
    f = result.resolution_finding
    if f is None:
        return ""
    ttr = f" (service back {esc(seconds(f.ttr_s))} after t0)" if f.ttr_s is not None else ""
    return (
        f'<span class="finding gd-finding">resolution: '
        f"{verdict_text(f.verdict.value, shown(result, f.reason))}{ttr}</span>"
    )


def facts_table(result: GamedayResult) -> str:
    imp, led = result.impact, result.ledger
    rows: list[tuple[str, str]] = [
        ("verdict", verdict_text(result.verdict.value, shown(result, result.reason))),
    ]
    if result.resolution_finding is not None:
        rows.append(("second finding", finding_html(result)))
    end = incident_end(result)
    rows += [
        (
            "runbook section",
            f'{esc(result.section)} <span class="muted">({esc(result.runbook)})</span>',
        ),
        ("fault", f"<code>{esc(result.fault)}</code>: {esc(result.fault_description)}"),
        ("fault check", _fault_check(result)),
        ("TTD", esc(seconds(result.ttd_s))),
        ("TTR", _recovery(result)),
        (
            "budget",
            esc(f"SEV-{result.declared_severity}: {seconds(result.budget_s)}")
            + (
                esc(f" ({result.ttr_s / result.budget_s:.1%} used)")
                if result.ttr_s is not None
                and result.budget_s
                and result.verdict in (Verdict.RECOVERED, Verdict.SLOW)
                else ""
            ),
        ),
        ("backend", esc(result.backend)),
        (
            "impact",
            esc(
                f"{imp.incident_failed} of {imp.incident_requests} requests failed during the "
                f"incident ({imp.failed} of {imp.requests} overall); p50 "
                f"{_ms(imp.p50_ms)}, p99 {_ms(imp.p99_ms)}; impact-derived SEV-{imp.severity} "
                f"(declared SEV-{result.declared_severity})"
            ),
        ),
        (
            "ledger",
            esc(f"{led.verified} of {led.acknowledged} acknowledged writes readable")
            + (esc(f"; lost: {', '.join(led.lost[:10])}") if led.lost else ""),
        ),
        (
            "started",
            esc(
                f"{result.started_at} (gameday took {seconds(result.duration_s)}"
                + (
                    f"; incident recorded for {seconds(end - result.t0)} after t0"
                    if end is not None and result.t0 is not None and result.ttr_s is None
                    else ""
                )
                + ")"
            ),
        ),
    ]
    if result.baseline_failing_steps:
        rows.append(
            (
                BASELINE_FAILING,
                "<br>".join(
                    f"<code>{esc(command_text(n))}</code>" for n in result.baseline_failing_steps
                )
                + '<br><span class="muted">non-zero on every run against the healthy stack, so '
                "they cannot show this fault: fix these runbook steps</span>",
            )
        )
    if result.noisy_steps:
        rows.append(
            (
                "noisy steps",
                "<br>".join(f"<code>{esc(command_text(n))}</code>" for n in result.noisy_steps),
            )
        )
    if result.notes:
        rows.append(("notes", "<br>".join(esc(shown(result, n)) for n in result.notes)))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _output_cell(step: StepRun, result: GamedayResult | None = None) -> str:
    """The last lines of stdout and stderr (stderr first when the step failed); the whole
    recorded output behind a <details> when the excerpt leaves something out. Display only:
    curl's progress meter is left out and the stack's addresses are shown as the runbook's
    names; the record keeps the output as it was."""
    stdout, stderr = step.stdout, step.stderr
    if result is not None:
        stdout, stderr = shown_output(result, stdout), shown_output(result, stderr)
    out = excerpt(stdout, lines=3, width=110)
    err = excerpt(stderr, lines=2, width=110)
    pieces = [out, err] if step.exit_code in (0, None) else [err, out]
    short = "\n".join(p for p in pieces if p)
    if not short:
        return '<span class="muted">-</span>'
    full = stdout.rstrip()
    if stderr.strip():
        full += ("\n" if full else "") + "--- stderr ---\n" + stderr.rstrip()
    cell = f"<pre>{esc(short)}</pre>"
    everything = 10**9
    if (out, err) != (
        excerpt(stdout, everything, everything),
        excerpt(stderr, everything, everything),
    ):
        lines = len(full.splitlines())
        cell += (
            f"<details><summary>whole output ({lines} lines)</summary>"
            f"<pre>{esc(full)}</pre></details>"
        )
    return cell


def step_table(result: GamedayResult) -> str:
    head = (
        "<tr><th>phase</th><th>line</th><th>command</th><th>role</th><th>status</th>"
        "<th>exit</th><th>output (excerpt)</th><th>duration</th><th>manual reason</th></tr>"
    )
    rows = []
    for s in result.steps:
        command = (
            f"<code>{esc(command_text(s.command))}</code>"
            if s.command
            else f'<span class="muted"># {esc(s.comment)}</span>'
        )
        status = step_status(result, s)
        exit_text = "-" if s.exit_code is None else str(s.exit_code)
        if s.baseline_exit is not None:
            exit_text += f' <span class="muted">(healthy: {s.baseline_exit})</span>'
        if s.detected:
            exit_text += " <strong>detected</strong>"
        slug = status.replace(" ", "-")
        rows.append(
            f'<tr class="gd-step gd-step-{esc(slug)}"><td>{esc(s.phase)}</td>'
            f'<td class="num">{s.line}</td><td>{command}</td><td>{esc(s.role)}</td>'
            f'<td>{_status(status)}</td><td class="num">{exit_text}</td>'
            f"<td>{_output_cell(s, result)}</td>"
            f'<td class="num">{esc(seconds(s.duration))}</td>'
            f"<td>{esc(s.manual_reason or '')}</td></tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="9" class="muted">no runbook step ran</td></tr>')
    return f'<table class="gd-steps">{head}{"".join(rows)}</table>'


def result_html(result: GamedayResult, id_prefix: str | None = None) -> str:
    """One gameday as an HTML fragment: verdict and figures, timeline, step table. (The
    summary links to the test's row, which pytest-html gives the node id as its id.)"""
    title = f"{result.scenario} — {result.title}"
    return (
        f'<div class="gd gd-result" data-scenario="{esc(result.scenario)}">'
        f"<style>{CSS}</style>"
        f"<h3>{esc(title)} {badge(result.verdict.value)}</h3>{unchecked_html(result)}"
        f"{facts_table(result)}"
        f'<div class="timeline">{timeline_svg(result, id_prefix)}</div>'
        f"<h3>Runbook steps</h3>{step_table(result)}</div>"
    )


@dataclass
class SummaryRow:
    nodeid: str
    outcome: str  # pytest's: passed (verdict as expected), failed, ...
    result: GamedayResult


def summary_html(rows: list[SummaryRow]) -> str:
    """The table of every scenario at the top of the report."""
    head = (
        "<tr><th>scenario</th><th>runbook</th><th>verdict</th><th>second finding</th>"
        "<th>as expected</th><th>TTD</th><th>TTR</th><th>budget</th><th>impact</th>"
        "<th>backend</th><th>not checked</th><th>reason</th></tr>"
    )
    body = []
    for row in rows:
        r = row.result
        imp = r.impact
        expected = "yes" if row.outcome == "passed" else f"no ({row.outcome})"
        body.append(
            f'<tr class="gd-summary-row"><td><a href="#{esc(quote(row.nodeid, safe=""))}">'
            f"{esc(r.scenario)}</a></td><td>{esc(runbook_stem(r.runbook))}</td>"
            f"<td>{verdict_text(r.verdict.value)}</td>"
            f"<td>{finding_html(r) or DASH}</td>"
            f"<td>{esc(expected)}</td>"
            f'<td class="num">{esc(seconds(r.ttd_s))}</td>'
            f'<td class="num">{esc(seconds(r.ttr_s))}</td>'
            f'<td class="num">{esc(f"SEV-{r.declared_severity} {seconds(r.budget_s)}")}</td>'
            f"<td>{esc(f'{imp.incident_failed}/{imp.incident_requests} failed')}, "
            f"SEV-{imp.severity}</td>"
            f"<td>{esc(r.backend)}</td>"
            f"<td>{_unchecked_cell(r)}</td><td>{esc(shown(r, r.reason))}</td></tr>"
        )
    return (
        f'<div class="gd gd-summary"><style>{CSS}</style><h3>Gameday verdicts</h3>'
        f'<table class="gd-summary-table">{head}{"".join(body)}</table></div>'
    )


def _unchecked_cell(result: GamedayResult) -> str:
    if not result.unchecked:
        return DASH
    return "<br>".join(esc(shown(result, u)) for u in result.unchecked)


def report_title(results: list[GamedayResult]) -> str:
    stems = list(dict.fromkeys(runbook_stem(r.runbook) for r in results))
    return "Gameday report — " + ", ".join(stems) if stems else "Gameday report"


def harness_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("gameday-harness")
    except PackageNotFoundError:
        return "unknown (not installed)"


def environment(results: list[GamedayResult], plugin_env: dict[str, Any]) -> dict[str, Any]:
    """pytest-html's environment table, led by what a gameday reader needs to know."""
    ours: dict[str, Any] = {
        "Gameday backend": ", ".join(dict.fromkeys(r.backend for r in results)),
        "Runbooks": ", ".join(dict.fromkeys(r.runbook for r in results)),
        "Gameday harness": harness_version(),
        "Scenarios": str(len({(r.scenario, r.runbook) for r in results})),
    }
    return {**ours, **{k: v for k, v in plugin_env.items() if k not in ours}}


def gameday_results(user_properties: list[tuple[str, object]]) -> list[GamedayResult]:
    return [
        GamedayResult.from_dict(value)
        for name, value in user_properties
        if name == "gameday" and isinstance(value, dict)
    ]


class GamedayHtml:
    """The per-run half of the plugin: extras on each gameday test, and the summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: dict[str, SummaryRow] = {}
        self.report_data: Any = None  # pytest-html's ReportData, for title and environment

    @property
    def html_requested(self) -> bool:
        return bool(self.config.getoption("htmlpath", None))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if report.when == "call" and self.html_requested:
            from pytest_html import extras

            results = gameday_results(item.user_properties)
            if results:
                report.extras = [
                    *getattr(report, "extras", []),
                    *(extras.html(result_html(r)) for r in results),
                ]
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for i, result in enumerate(gameday_results(list(report.user_properties))):
            self.rows[f"{report.nodeid}#{i}"] = SummaryRow(report.nodeid, report.outcome, result)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        if not self.rows:
            return
        prefix.append(summary_html(list(self.rows.values())))
        # Called just before pytest-html writes the page: the run's results are all in.
        results = [row.result for row in self.rows.values()]
        if self.report_data is not None:
            self.report_data.title = report_title(results)
            env = self.report_data.data.get("environment")
            self.report_data.set_data(
                "environment", environment(results, env if isinstance(env, dict) else {})
            )

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        self.report_data = report
        # pytest-html folds passed tests by default, which would hide every recovered
        # gameday's block; unfold them unless the user chose otherwise (ini or -o).
        chosen = "render_collapsed" in self.config.inicfg or any(
            str(o).startswith("render_collapsed=")
            for o in (self.config.getoption("override_ini", None) or [])
        )
        if not chosen and isinstance(report.data, dict):
            report.data["renderCollapsed"] = ["none"]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        # pytest-html's placeholder under every test with no captured output: a gameday's
        # block above says what happened, and the placeholder reads as a missing log.
        if data == [NO_LOG]:
            data.clear()


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(_INSTANCE_NAME):
        config.pluginmanager.register(GamedayHtml(config), _INSTANCE_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    instance = config.pluginmanager.get_plugin(_INSTANCE_NAME)
    if instance is not None:
        config.pluginmanager.unregister(instance, _INSTANCE_NAME)


def register(config: pytest.Config) -> None:
    """Register this module once, under PLUGIN_NAME, if pytest-html is importable."""
    try:
        import pytest_html  # noqa: F401
    except ImportError:
        return
    import harness.reports.html_plugin as module

    if not config.pluginmanager.has_plugin(PLUGIN_NAME) and not config.pluginmanager.is_registered(
        module
    ):
        config.pluginmanager.register(module, PLUGIN_NAME)
