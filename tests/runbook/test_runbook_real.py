"""The parser against the team's real runbook, section by section."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from harness.runbook.model import Role, Runbook
from harness.runbook.parse import main, parse_runbook

REAL = Path(__file__).resolve().parents[2] / "runbooks" / "incident-response.md"

D, INV, R, C = Role.DETECTION, Role.INVESTIGATION, Role.RESOLUTION, Role.COMMUNICATION


@pytest.fixture(scope="module")
def rb() -> Runbook:
    return parse_runbook(REAL)


def steps(rb: Runbook, title: str) -> list[tuple[str, str, int, Role]]:
    return [(s.command, s.comment, s.line, s.role) for s in rb.section(title).steps]


def test_title_and_path(rb: Runbook) -> None:
    assert rb.title == "Incident Response Runbook"
    assert rb.path == str(REAL)


def test_severities(rb: Runbook) -> None:
    assert sorted(rb.severities) == [1, 2, 3, 4]
    s1, s2, s3, s4 = (rb.severities[n] for n in (1, 2, 3, 4))
    assert (s1.name, s1.line) == ("Critical (Service Down)", 7)
    assert s1.definition == "Complete service outage affecting all users"
    assert s1.response_time_text == "Immediate (< 5 minutes)"
    assert s1.escalation == "Page on-call engineer immediately"
    assert s1.label == "SEV-1"
    assert s1.response_time == timedelta(minutes=5)
    assert s2.response_time == timedelta(minutes=15)
    assert s3.response_time == timedelta(hours=1)
    # "Next business day" is one calendar day, not 8 working hours.
    assert s4.response_time == timedelta(days=1)
    assert s4.response_time_text == "Next business day"
    assert s2.name == "High (Significant Impact)"
    assert s3.definition == "Limited functionality affected, <50% of users"
    assert s4.escalation == "Log issue for planning"
    assert [s.line for s in (s2, s3, s4)] == [12, 17, 22]


SL, RP, IR = "severity-levels", "response-process", "immediate-response"
SEVS, PROC, IRA = (
    "Incident Severity Levels",
    "Incident Response Process",
    "3. Immediate Response Actions",
)

EXPECTED_SECTIONS = [
    # (title, level, line, kind, parent, severities, n_steps)
    ("Incident Response Runbook", 1, 1, "document", None, (), 0),
    ("Incident Severity Levels", 2, 5, "severity-levels", "Incident Response Runbook", (), 0),
    ("SEV-1: Critical (Service Down)", 3, 7, SL, SEVS, (1,), 0),
    ("SEV-2: High (Significant Impact)", 3, 12, SL, SEVS, (2,), 0),
    ("SEV-3: Medium (Minor Impact)", 3, 17, SL, SEVS, (3,), 0),
    ("SEV-4: Low (Minimal Impact)", 3, 22, SL, SEVS, (4,), 0),
    ("Incident Response Process", 2, 27, "response-process", "Incident Response Runbook", (), 0),
    ("1. Detection and Alert", 3, 29, RP, PROC, (), 4),
    ("2. Initial Assessment", 3, 42, RP, PROC, (), 4),
    ("3. Immediate Response Actions", 3, 55, IR, PROC, (), 0),
    ("Service Down (SEV-1)", 4, 57, IR, IRA, (1,), 7),
    ("High Error Rate (SEV-2)", 4, 77, IR, IRA, (2,), 7),
    ("Performance Issues (SEV-2/SEV-3)", 4, 96, IR, IRA, (2, 3), 5),
    ("4. Communication", 3, 112, "communication", "Incident Response Process", (), 0),
    ("Incident Declaration", 4, 114, "communication", "4. Communication", (), 0),
    ("Status Updates", 4, 130, "communication", "4. Communication", (), 0),
    ("Resolution Notice", 4, 141, "communication", "4. Communication", (), 0),
    ("Common Incident Scenarios", 2, 153, "scenario", "Incident Response Runbook", (), 0),
    ("Scenario 1: Service Won't Start", 3, 155, "scenario", "Common Incident Scenarios", (), 10),
    ("Scenario 2: High Memory Usage", 3, 195, "scenario", "Common Incident Scenarios", (), 8),
    ("Scenario 3: LLM API Issues", 3, 233, "scenario", "Common Incident Scenarios", (), 9),
    ("Scenario 4: Database Connection Issues", 3, 270, "scenario", "Common Incident Scenarios",
     (), 8),
    ("Post-Incident Procedures", 2, 304, "post-incident", "Incident Response Runbook", (), 0),
    ("1. Immediate Post-Resolution (< 1 hour)", 3, 306, "post-incident",
     "Post-Incident Procedures", (), 0),
    ("2. Post-Incident Review (Within 24 hours)", 3, 312, "post-incident",
     "Post-Incident Procedures", (), 0),
    ("3. Long-term Improvements", 3, 361, "post-incident", "Post-Incident Procedures", (), 0),
    ("Emergency Contacts", 2, 368, "contacts", "Incident Response Runbook", (), 0),
    ("On-Call Rotation", 3, 370, "contacts", "Emergency Contacts", (), 0),
    ("Escalation Path", 3, 375, "contacts", "Emergency Contacts", (), 0),
    ("External Contacts", 3, 381, "contacts", "Emergency Contacts", (), 0),
    ("Tools and Resources", 2, 386, "tools", "Incident Response Runbook", (), 0),
    ("Monitoring Dashboards", 3, 388, "tools", "Tools and Resources", (), 0),
    ("Log Analysis", 3, 393, "tools", "Tools and Resources", (), 0),
    ("Useful Commands", 3, 398, "tools", "Tools and Resources", (), 6),
]  # fmt: skip


def test_every_section(rb: Runbook) -> None:
    got = [
        (s.title, s.level, s.line, s.kind, s.parent, s.severities, len(s.steps))
        for s in rb.sections
    ]
    assert got == EXPECTED_SECTIONS
    assert rb.unknown_sections == []
    # headings inside ```markdown templates are not sections
    assert not any(s.title in ("Summary", "What Went Well") for s in rb.sections)


def test_every_step_names_its_section(rb: Runbook) -> None:
    for section in rb.sections:
        assert all(step.section == section.title for step in section.steps)


def test_detection_and_alert(rb: Runbook) -> None:
    alert_channels = (
        "Alert channels:\n- PagerDuty for SEV-1/SEV-2\n- Slack #alerts for all severities\n"
        "- Email notifications for SEV-3/SEV-4"
    )
    assert steps(rb, "Detection and Alert") == [
        ("", alert_channels, 31, C),
        ("kubectl get pods -n testgen", "Check alert source", 37, D),
        ("docker ps | grep testgen", "Check alert source", 38, D),
        ("curl -f http://localhost:8000/health", "Check alert source", 39, D),
    ]


def test_initial_assessment(rb: Runbook) -> None:
    assert steps(rb, "Initial Assessment") == [
        ("make health-check", "Quick health check", 45, INV),
        ("systemctl status testgen-copilot", "Check service status", 48, INV),
        ("docker logs testgen-copilot --tail 50", "Check service status", 49, INV),
        (
            "",
            "Review metrics dashboard\nNavigate to: http://grafana:3000/d/testgen-overview",
            51,
            INV,
        ),
    ]


def test_service_down_sev1(rb: Runbook) -> None:
    assert steps(rb, "Service Down (SEV-1)") == [
        ("docker ps | grep testgen", "1. Check if containers are running", 60, D),
        ("docker-compose restart testgen", "2. Restart service if needed", 63, R),
        ("docker logs testgen-copilot --since 5m", "3. Check logs for errors", 66, D),
        ("curl http://localhost:8000/health", "4. Verify health endpoints", 69, D),
        ("curl http://localhost:8000/ready", "4. Verify health endpoints", 70, D),
        ("curl http://localhost:6379/  # Redis", "5. Check dependencies", 73, D),
        ("ping prometheus  # Prometheus", "5. Check dependencies", 74, D),
    ]


def test_high_error_rate_sev2(rb: Runbook) -> None:
    curl = (
        'curl -H "Authorization: Bearer $OPENAI_API_KEY" \\\n     https://api.openai.com/v1/models'
    )
    assert steps(rb, "High Error Rate (SEV-2)") == [
        ("tail -100 /var/log/testgen/app.log | grep ERROR", "1. Identify error patterns", 80, D),
        (curl, "2. Check LLM API status", 83, D),
        ("git log --oneline -10", "3. Review recent deployments", 87, D),
        ("docker images | grep testgen", "3. Review recent deployments", 88, D),
        ("docker stats testgen-copilot", "4. Check resource usage", 91, D),
        ("free -h", "4. Check resource usage", 92, D),
        ("df -h", "4. Check resource usage", 93, D),
    ]


def test_performance_issues(rb: Runbook) -> None:
    s = rb.section("Performance Issues")
    assert s.severities == (2, 3)
    assert [(st.command, st.line, st.role) for st in s.steps] == [
        ('curl -w "%{time_total}\\n" -s http://localhost:8000/health', 99, D),
        ("curl http://localhost:8000/metrics | grep active_requests", 102, D),
        ("top -p $(pgrep -f testgen)", 105, D),
        ("iotop -a", 106, D),
        ("redis-cli info stats", 109, D),
    ]


def test_scenario_1(rb: Runbook) -> None:
    s = rb.section("Scenario 1")
    assert s.symptoms == "Health checks failing, containers exiting"
    assert s.common_causes == [
        "Missing environment variables",
        "Database connectivity issues",
        "Port conflicts",
        "Configuration errors",
    ]
    assert steps(rb, "Scenario 1") == [
        ("docker ps -a | grep testgen", "1. Check container status", 162, INV),
        ("docker logs testgen-copilot", "2. Review startup logs", 165, INV),
        ("docker run --rm testgen-copilot:latest env | grep TESTGEN",
         "3. Check configuration", 168, INV),
        ("docker-compose ps", "4. Verify dependencies", 171, INV),
        ("cp .env.example .env", "Fix missing environment variables", 183, R),
        ("vim .env  # Add required values", "Fix missing environment variables", 184, R),
        ("docker-compose down", "Fix port conflicts", 187, R),
        ("docker-compose up -d", "Fix port conflicts", 188, R),
        ("docker-compose down -v", "Reset configuration", 191, R),
        ("docker-compose up -d", "Reset configuration", 192, R),
    ]  # fmt: skip


PSUTIL = """docker exec testgen-copilot python -c "
import psutil
print(f'Memory: {psutil.virtual_memory().percent}%')
print(f'Available: {psutil.virtual_memory().available / 1024**3:.1f}GB')
\""""


def test_scenario_2(rb: Runbook) -> None:
    s = rb.section("Scenario 2")
    assert s.symptoms == "Memory alerts, slow response times, OOM kills"
    assert s.common_causes == []
    assert steps(rb, "Scenario 2") == [
        ("docker stats testgen-copilot", "1. Check current memory usage", 202, INV),
        ("", "2. Review memory trends\nCheck Grafana memory dashboard", 204, INV),
        (PSUTIL, "3. Look for memory leaks", 208, INV),
        ("redis-cli info memory", "4. Check for large objects in cache", 215, INV),
        ("docker-compose restart testgen", "1. Restart service (immediate relief)", 221, R),
        ("redis-cli FLUSHALL", "2. Clear cache if needed", 224, R),
        ("docker-compose up -d --scale testgen=2", "3. Scale resources if needed", 227, R),
        ("", "4. Investigate root cause\nLook for memory-intensive operations in logs", 229, R),
    ]


def test_multiline_python_is_one_step(rb: Runbook) -> None:
    s = rb.section("Scenario 2")
    py = [st for st in s.steps if "python -c" in st.command]
    assert len(py) == 1
    assert py[0].command.count("\n") == 4
    assert not any(st.command.startswith(("import", "print", '"')) for st in s.steps)


def test_scenario_3(rb: Runbook) -> None:
    s = rb.section("Scenario 3")
    assert s.symptoms == "Generation failures, timeout errors, quota exceeded"
    auth = 'curl -H "Authorization: Bearer $OPENAI_API_KEY" \\\n     https://api.openai.com/v1/'
    assert steps(rb, "Scenario 3") == [
        (auth + "models", "1. Test API connectivity", 240, INV),
        (auth + "usage", "2. Check usage limits", 244, INV),
        ('grep "llm_error" /var/log/testgen/*.log | tail -20',
         "3. Review error patterns", 248, INV),
        ("curl http://localhost:8000/metrics | grep llm_requests_total",
         "4. Check rate limiting", 251, INV),
        ("export PRIMARY_LLM_PROVIDER=anthropic", "1. Switch to backup provider", 257, R),
        ("export LLM_RATE_LIMIT=10  # requests per minute", "2. Implement rate limiting", 260, R),
        ("export LOCAL_LLM_ENABLED=true", "3. Enable local LLM fallback", 263, R),
        ("docker-compose up -d ollama", "3. Enable local LLM fallback", 264, R),
        ("", "4. Notify users of degraded service\nPost in #announcements channel", 266, C),
    ]  # fmt: skip


def test_scenario_4(rb: Runbook) -> None:
    s = rb.section("Scenario 4")
    assert s.symptoms == "500 errors, database connection failures"
    assert steps(rb, "Scenario 4") == [
        ("docker-compose ps postgres", "1. Check database status", 277, INV),
        ("docker exec testgen-copilot pg_isready -h postgres -p 5432",
         "2. Test connectivity", 280, INV),
        ('docker logs testgen-copilot | grep "database"', "3. Check connection pool", 283, INV),
        ("", "4. Review database metrics\nCheck Grafana database dashboard", 285, INV),
        ("docker-compose restart postgres", "1. Restart database", 292, R),
        ("docker logs testgen-postgres", "2. Check database logs", 295, R),
        ("docker-compose restart testgen", "3. Reset connections", 298, R),
        ('docker exec testgen-postgres psql -U testgen -c "\\dt"',
         "4. Verify data integrity", 301, R),
    ]  # fmt: skip


def test_useful_commands(rb: Runbook) -> None:
    assert steps(rb, "Useful Commands") == [
        ("make health-check", "Quick health check", 401, INV),
        ("docker-compose restart testgen", "Service restart", 404, INV),
        ("docker logs testgen-copilot --tail 100 --follow", "View recent logs", 407, INV),
        ("curl http://localhost:8000/metrics", "Check metrics", 410, INV),
        ("docker exec testgen-postgres pg_isready", "Database status", 413, INV),
        ("docker exec testgen-redis redis-cli ping", "Redis status", 416, INV),
    ]


def test_manual_steps(rb: Runbook) -> None:
    manual = [(s.section, s.line) for sec in rb.sections for s in sec.steps if s.manual]
    assert manual == [
        ("1. Detection and Alert", 31),
        ("2. Initial Assessment", 51),
        ("Scenario 2: High Memory Usage", 204),
        ("Scenario 2: High Memory Usage", 229),
        ("Scenario 3: LLM API Issues", 266),
        ("Scenario 4: Database Connection Issues", 285),
    ]


def test_communication_templates(rb: Runbook) -> None:
    decl = rb.section("Incident Declaration")
    assert decl.steps == [] and len(decl.templates) == 1
    assert decl.templates[0].startswith("# Slack template for #incidents channel\n")
    assert "**Incident Commander**: {Your name}" in decl.templates[0]
    assert rb.section("Status Updates").templates[0].startswith("# Update template")
    notice = rb.section("Resolution Notice").templates[0]
    assert "**Root Cause**: {Brief explanation}" in notice
    assert notice.endswith("**Follow-up**: {Post-incident review scheduled for X}\n")


def test_post_incident(rb: Runbook) -> None:
    assert rb.section("Immediate Post-Resolution").checklist == [
        "Verify service is fully operational",
        "Update monitoring dashboards",
        "Notify stakeholders of resolution",
        "Document timeline and actions taken",
    ]
    assert rb.section("Long-term Improvements").checklist == [
        "Update runbooks with new learnings",
        "Implement preventive measures",
        "Improve monitoring and alerting",
        "Conduct chaos engineering exercises",
        "Update incident response procedures",
    ]
    review = rb.section("Post-Incident Review")
    assert review.checklist == []  # the "- [ ]" lines inside the template are template text
    (template,) = review.templates
    assert template.startswith("# Template: docs/post-incident-reports/")
    assert "| 10:05 | Root cause identified | Applied fix |" in template
    assert template.rstrip().endswith("- Technical debt: {Details}")


def test_roles_summary(rb: Runbook) -> None:
    sev1 = rb.section("Service Down (SEV-1)")
    assert [s.command for s in sev1.steps_with_role(Role.RESOLUTION)] == [
        "docker-compose restart testgen"
    ]


def test_to_dict_is_json(rb: Runbook) -> None:
    d = json.loads(json.dumps(rb.to_dict()))
    assert d["severities"]["4"]["response_time_seconds"] == 86400
    assert d["severities"]["1"]["response_time_seconds"] == 300
    assert len(d["sections"]) == len(EXPECTED_SECTIONS)
    sev1 = next(s for s in d["sections"] if s["title"] == "Service Down (SEV-1)")
    assert sev1["steps"][1] == {
        "command": "docker-compose restart testgen",
        "comment": "2. Restart service if needed",
        "line": 63,
        "role": "resolution",
        "section": "Service Down (SEV-1)",
    }


def test_cli_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(REAL)]) == 0
    out = capsys.readouterr().out
    assert "#### Service Down (SEV-1) [immediate-response] SEV-1 - 7 steps" in out
    assert "L63   resolution    docker-compose restart testgen" in out
    assert "unknown sections: none" in out


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(REAL), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Incident Response Runbook"
