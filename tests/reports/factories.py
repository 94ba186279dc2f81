"""GamedayResult records built by hand, so every renderer is tested without a live stack."""

from __future__ import annotations

from dataclasses import replace

from harness.result import (
    Event,
    FaultCheck,
    Finding,
    GamedayResult,
    Impact,
    Ledger,
    StepRun,
    StepStatus,
    Verdict,
)

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
    during = sum(ok + bad for t, ok, bad in buckets if t + 1 > t0 and t < t0 + ttr)
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
            requests=sum(ok + bad for _, ok, bad in buckets),
            failed=failed,
            incident_requests=during,
            incident_failed=failed,
            p50_ms=9.2,
            p99_ms=380.0,
            severity=2,
            buckets=buckets,
        ),
        ledger=Ledger(acknowledged=12, verified=12),
        address_map={"127.0.0.1:55093": "localhost:8000"},
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


# curl's progress meter as a step records it (stderr, carriage returns between updates).
CURL_METER = (
    "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
    "                                 Dload  Upload   Total   Spent    Left  Speed\n"
    "\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0"
    "\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0\n"
)
API_REAL, API_SHOWN = "127.0.0.1:30441", "localhost:8000"
REDIS_REAL, REDIS_SHOWN = "127.0.0.1:30442", "localhost:6379"
REDIS_CURL = "curl http://localhost:6379/"


def after_lift(scenario: str = "database-link-cut", *, t0: float = 1.35) -> GamedayResult:
    """The database link cut: the runbook's steps ran, the service stayed down with the cut
    in place, and came back only once the world repaired the link (recovered-after-lift)."""
    base = recovered(scenario, t0=t0, ttr=9.4, ttd=0.3)
    verify_end = t0 + 6.2
    lift_at = verify_end + 0.05
    first_seen = lift_at + 1.1
    confirmed = first_seen + 3.0
    # The load fails from t0 until the service is back, after the lift.
    buckets = [
        (float(s), 20, 20 if s + 1 > t0 and s < first_seen else 0)
        for s in range(int(confirmed) + 2)
    ]
    failed = sum(b[2] for b in buckets)
    steps = [s for s in base.steps if s.phase != "resolve"] + [
        step(
            "resolve",
            145,
            "docker-compose restart postgres",
            StepStatus.OK,
            started=t0 + 0.35,
            duration=0.9,
            role="resolution",
            stderr=" Container testgen-postgres  Restarting\n Container testgen-postgres  Started",
        )
    ]
    events = [e for e in base.events if e.kind not in ("step", "recovered", "verdict")]
    events += [
        Event(t0 + 1.25, "step", "line 145: ok (exit 0)"),
        Event(verify_end, "fault-check", "the link to postgres is still cut"),
        Event(lift_at, "lift", "the world lifted the fault's external cause"),
        Event(first_seen, "recovery-seen", "verify-after-lift: health 200, ready 200"),
        Event(confirmed, "recovered", "verify-after-lift: held 3s: health 200, ready 200"),
        Event(confirmed + 0.05, "fault-check", "the fault is gone"),
        Event(confirmed + 0.1, "verdict", "recovered-after-lift"),
    ]
    return replace(
        base,
        title="Network link to PostgreSQL cut, repaired by its owners",
        section="Database Connection Issues (SEV-2)",
        declared_severity=2,
        budget_s=900.0,
        fault="network-cut",
        fault_description="The link from testgen to postgres is cut (toxiproxy: down).",
        verdict=Verdict.RECOVERED_AFTER_LIFT,
        reason="the service recovered only after the network link was repaired; with the cut "
        "in place it stayed down after line 145 `docker-compose restart postgres`",
        ttr_s=round(first_seen - t0, 4),
        recovery_confirmed_s=round(confirmed - t0, 4),
        hold_s=3.0,
        fault_check=FaultCheck(checked=True, present=False, evidence=""),
        steps=steps,
        events=events,
        duration_s=round(confirmed + 0.6, 3),
        impact=replace(
            base.impact,
            buckets=buckets,
            requests=sum(ok + bad for _, ok, bad in buckets),
            failed=failed,
            incident_requests=sum(
                ok + bad for t, ok, bad in buckets if t + 1 > t0 and t < first_seen
            ),
            incident_failed=failed,
        ),
    )


def undetected_with_finding(scenario: str = "llm-quota", *, t0: float = 1.35) -> GamedayResult:
    """LLM quota exhausted: no detection step noticed within the 10 s window (the Redis curl
    fails on the healthy stack too), the incident was declared by its impact, and the
    resolution that ran then did not recover (the second finding). Its inject event is
    logged 0.33 s after t0, as on a loaded machine."""
    window = 10.0
    declared = t0 + window
    quota = 'curl -H "Authorization: Bearer $OPENAI_API_KEY" \\\n  https://api.openai.com/v1/usage'
    steps = [
        step(
            "steady-state",
            83,
            quota,
            StepStatus.OK,
            started=0.7,
            stdout='{"object":"usage","total_usage":12.5}',
            stderr=CURL_METER,
        ),
        step(
            "steady-state",
            88,
            REDIS_CURL,
            StepStatus.FAILED,
            exit_code=52,
            started=0.9,
            stderr=CURL_METER + "curl: (52) Empty reply from server\n",
        ),
        step(
            "detect",
            83,
            quota,
            StepStatus.OK,
            started=declared - 0.2,
            duration=0.06,
            baseline_exit=0,
            stdout='{"object":"usage","total_usage":12.5}',
            stderr=CURL_METER,
        ),
        step(
            "detect",
            91,
            "curl -s http://localhost:8000/health",
            StepStatus.OK,
            started=declared - 0.12,
            duration=0.04,
            baseline_exit=0,
            stdout='{"status":"ok"}',
        ),
        step(
            "resolve",
            95,
            "export PRIMARY_LLM_PROVIDER=anthropic",
            StepStatus.OK,
            started=declared + 0.05,
            duration=0.01,
            role="resolution",
        ),
        step(
            "resolve",
            98,
            "curl -X POST http://localhost:8000/v1/generate -d @sample.json",
            StepStatus.FAILED,
            exit_code=22,
            started=declared + 0.1,
            duration=0.08,
            role="resolution",
            stderr=CURL_METER
            + f"curl: (22) The requested URL returned error: 503 from {API_REAL.split(':')[0]} "
            f"port {API_REAL.split(':')[1]}\n",
        ),
    ]
    verdict_at = declared + 0.2 + 15.0
    events = [
        Event(0.6, "up", "local stack ready"),
        Event(0.65, "steady-state", "health 200, ready 200, generate 200 and job read back"),
        Event(1.0, "baseline", "3 detection steps ran on the healthy stack"),
        Event(t0 + 0.33, "inject", "The OpenAI quota is exhausted (429 insufficient_quota)."),
        Event(t0 + 0.35, "fault-confirmed", "openai answers 429 insufficient_quota"),
        Event(declared, "declared", "undetected after 10s; 460 of 480 requests failed"),
        Event(declared + 0.06, "step", "line 95: ok (exit 0)"),
        Event(declared + 0.18, "step", "line 98: failed (exit 22)"),
        Event(verdict_at - 0.05, "fault-check", "openai still answers 429 insufficient_quota"),
        Event(verdict_at, "verdict", "undetected"),
    ]
    last = int(verdict_at) + 1
    buckets = [(float(s), 2 if s + 1 > t0 else 40, 38 if s + 1 > t0 else 0) for s in range(last)]
    failed = sum(b[2] for b in buckets)
    result = GamedayResult(
        scenario=scenario,
        title="LLM API quota exhausted",
        section="LLM API Quota Exceeded (SEV-2)",
        runbook="runbooks/incident-response.md",
        backend="local",
        declared_severity=2,
        budget_s=900.0,
        fault="llm-quota",
        fault_description="The primary LLM provider answers 429 insufficient_quota.",
        verdict=Verdict.UNDETECTED,
        reason="no detection step of 'LLM API Quota Exceeded' changed its exit status within "
        "10s; line 88 `curl http://localhost:6379/` fails at baseline",
        t0=t0,
        poll_interval_s=0.1,
        started_at="2026-11-26T17:52:10+00:00",
        duration_s=round(verdict_at + 0.7, 3),
        events=events,
        steps=steps,
        impact=Impact(
            requests=sum(b[1] + b[2] for b in buckets),
            failed=failed,
            incident_requests=sum(b[1] + b[2] for b in buckets if b[0] + 1 > t0),
            incident_failed=failed,
            p50_ms=12.0,
            p99_ms=95.0,
            severity=1,
            buckets=buckets,
        ),
        ledger=Ledger(acknowledged=6, verified=6),
        resolution_finding=Finding(
            Verdict.NOT_RECOVERED,
            "testgen still runs with PRIMARY_LLM_PROVIDER=openai; export reaches only the "
            "operator's shell",
        ),
        hold_s=3.0,
        fault_check=FaultCheck(
            checked=True, present=True, evidence="openai still answers 429 insufficient_quota"
        ),
        baseline_failing_steps=[f"line 88: {REDIS_CURL}"],
        unchecked=["the memory limit (not enforced on this machine)"],
        address_map={API_REAL: API_SHOWN, REDIS_REAL: REDIS_SHOWN},
    )
    return result


def data_loss(scenario: str = "wont-start-missing-variable", **kwargs: object) -> GamedayResult:
    """Recovered service, but a resolution step (`down -v`) destroyed acknowledged jobs."""
    base = recovered(scenario, **kwargs)  # type: ignore[arg-type]
    destroy = step(
        "resolve",
        191,
        "docker-compose down -v",
        StepStatus.OK,
        started=base.t0 + 0.2 if base.t0 is not None else 0.2,
        duration=0.1,
        role="resolution",
    )
    events = sorted(
        [*base.events, Event(destroy.started + 0.1, "data-destroyed",
                             "line 191 `docker-compose down -v` destroyed the database's data")],
        key=lambda e: e.t,
    )
    return replace(
        base,
        verdict=Verdict.DATA_LOSS,
        reason="6 of 39 acknowledged jobs are no longer readable after line 191 "
        "`docker-compose down -v`",
        steps=[*base.steps, destroy],
        events=events,
        ledger=Ledger(acknowledged=39, verified=33, lost=["j1", "j2", "j3", "j4", "j5", "j6"]),
    )


def suite_run(runbook_dir: str, scenarios: int = 13) -> list[GamedayResult]:
    """A run shaped like the default one: `scenarios` incidents on the shipped runbook (a mix
    of every verdict) and the same incidents, all recovered, on a fixed copy."""
    makers = [data_loss, not_recovered, undetected_with_finding, after_lift, recovered]
    shipped, fixed = f"{runbook_dir}/incident-response.md", f"{runbook_dir}/fixed.md"
    out = []
    for i in range(scenarios):
        name = f"scenario-{i:02d}-" + ("x" * (i % 4)) + "-incident"
        maker = makers[i % len(makers)]
        out.append(replace(maker(name), runbook=shipped))  # type: ignore[operator]
        out.append(replace(recovered(name), runbook=fixed))
    return out
