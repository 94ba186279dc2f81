"""GamedayResult records built by hand, so every renderer is tested without a live stack."""

from __future__ import annotations

from dataclasses import replace

from harness.result import Event, GamedayResult, Impact, Ledger, StepRun, StepStatus, Verdict

SECTION = "Service Down (SEV-1)"


def step(
    phase: str,
    line: int,
    command: str,
    status: StepStatus,
    *,
    exit_code: int | None = 0,
    started: float = 0.0,
    duration: float = 0.03,
    role: str = "detection",
    stdout: str = "",
    stderr: str = "",
    detected: bool = False,
    baseline_exit: int | None = None,
    manual_reason: str | None = None,
    comment: str = "a step",
) -> StepRun:
    return StepRun(
        phase=phase,
        section=SECTION,
        comment=comment,
        command=command,
        line=line,
        role=role,
        status=status,
        exit_code=exit_code,
        stdout=stdout,
        stderr=stderr,
        started=started,
        duration=duration,
        manual_reason=manual_reason,
        baseline_exit=baseline_exit,
        detected=detected,
    )


def recovered(
    scenario: str = "service-down",
    *,
    ttr: float = 0.57,
    ttd: float = 0.08,
    t0: float = 1.35,
    runbook: str = "runbooks/incident-response.md",
    started_at: str = "2026-11-26T17:47:33+00:00",
) -> GamedayResult:
    """A recovered service-down gameday shaped like a real one, TTR stretched to `ttr`."""
    detect_at = t0 + ttd
    resolve_took = max(ttr - ttd - 0.05, 0.02)
    steps = [
        step(
            "steady-state",
            60,
            "docker ps | grep testgen",
            StepStatus.OK,
            started=0.94,
            stdout="f343c680505f   testgen-copilot:latest   Up 1 second   testgen-copilot\n",
        ),
        step(
            "steady-state",
            69,
            "curl http://localhost:8000/health",
            StepStatus.OK,
            started=1.10,
            stdout='{"status":"ok"}',
        ),
        step(
            "steady-state",
            74,
            "ping prometheus  # Prometheus",
            StepStatus.MANUAL,
            exit_code=None,
            started=1.30,
            duration=0.0,
            manual_reason="`ping`: ICMP to hosts outside the gameday stack "
            "(no Prometheus host here)",
        ),
        step(
            "detect",
            60,
            "docker ps | grep testgen",
            StepStatus.OK,
            started=t0 + 0.001,
            duration=ttd * 0.3,
            baseline_exit=0,
        ),
        step(
            "detect",
            69,
            "curl http://localhost:8000/health",
            StepStatus.FAILED,
            exit_code=7,
            started=t0 + ttd * 0.6,
            duration=ttd * 0.4,
            baseline_exit=0,
            detected=True,
            stderr="curl: (7) Failed to connect to 127.0.0.1 port 55093: "
            "Couldn't connect to server\n",
        ),
        step(
            "resolve",
            63,
            "docker-compose restart testgen",
            StepStatus.OK,
            started=detect_at,
            duration=resolve_took,
            role="resolution",
            stderr=" Container testgen-copilot  Restarting\n Container testgen-copilot  Started\n",
        ),
    ]
    events = [
        Event(0.83, "up", "local stack ready"),
        Event(0.90, "steady-state", "health 200, ready 200, generate 200 and job read back"),
        Event(1.30, "baseline", "3 detection steps ran on the healthy stack"),
        Event(t0 + 0.005, "inject", "The testgen container was killed with SIGKILL."),
        Event(t0 + 0.006, "fault-confirmed", "testgen (pid 13622) killed: Exited (137)"),
        Event(detect_at, "detected", "line 69: curl http://localhost:8000/health (exit 7, was 0)"),
        Event(detect_at + resolve_took, "step", "line 63: ok (exit 0)"),
        Event(t0 + ttr, "recovered", "health 200, ready 200, generate 200 and job read back"),
        Event(t0 + ttr + 0.03, "verdict", "recovered"),
    ]
    seconds = int(t0 + ttr) + 2
    buckets = [(float(s), 20, 20 if s + 1 > t0 and s < t0 + ttr else 0) for s in range(seconds)]
    failed = sum(b[2] for b in buckets)
    return GamedayResult(
        scenario=scenario,
        title="TestGen API killed (SIGKILL through the engine), stays down",
        section=SECTION,
        runbook=runbook,
        backend="local",
        declared_severity=1,
        budget_s=300.0,
        fault="service-killed",
        fault_description="The testgen container was killed with SIGKILL through the engine.",
        verdict=Verdict.RECOVERED,
        ttd_s=ttd,
        ttr_s=ttr,
        t0=t0,
        poll_interval_s=0.1,
        started_at=started_at,
        duration_s=round(t0 + ttr + 0.5, 3),
        events=events,
        steps=steps,
        impact=Impact(
            requests=40 * seconds // 2,
            failed=failed,
            incident_requests=40,
            incident_failed=failed,
            p50_ms=9.2,
            p99_ms=380.0,
            severity=2,
            buckets=buckets,
        ),
        ledger=Ledger(acknowledged=12, verified=12),
    )


def not_recovered(scenario: str = "service-down", **kwargs: object) -> GamedayResult:
    """The same gameday, but the restart step failed and the service stayed down."""
    base = recovered(scenario, **kwargs)  # type: ignore[arg-type]
    steps = [
        replace(s, status=StepStatus.FAILED, exit_code=1, stderr="no such service: testgen\n")
        if s.phase == "resolve"
        else s
        for s in base.steps
    ]
    events = [e for e in base.events if e.kind not in ("recovered", "verdict")]
    events.append(Event(events[-1].t + 30.0, "verdict", "service did not recover"))
    return replace(
        base,
        verdict=Verdict.NOT_RECOVERED,
        ttr_s=None,
        steps=steps,
        events=events,
        reason="after the resolution steps the service did not recover: health refused; "
        "step line 63 `docker-compose restart testgen` exited 1",
    )
