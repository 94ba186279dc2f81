"""The parser's rules on small synthetic runbooks, and Hypothesis properties."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import RunbookError
from harness.runbook.model import Role
from harness.runbook.parse import (
    parse_response_time,
    parse_runbook_bytes,
    parse_runbook_text,
    split_shell_block,
    title_severities,
)
from harness.shell.commands import changes_state

HEAD = """\
# Test runbook

## Incident Severity Levels

### SEV-1: Critical (Service Down)
- **Definition**: Complete outage
- **Response Time**: Immediate (< 5 minutes)
- **Escalation**: Page on-call

### SEV-2: High
- **Definition**: Degraded
- **Response Time**: 30 seconds
- **Escalation**: Slack
"""
HEAD_LINES = HEAD.count("\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Immediate (< 5 minutes)", timedelta(minutes=5)),
        ("15 minutes", timedelta(minutes=15)),
        ("1 hour", timedelta(hours=1)),
        ("2 hours", timedelta(hours=2)),
        ("30 seconds", timedelta(seconds=30)),
        ("Next business day", timedelta(days=1)),
        ("2 business days", timedelta(days=2)),
        ("Within 24 hours", timedelta(hours=24)),
        ("1 hour 30 minutes", timedelta(minutes=90)),
        ("10 min", timedelta(minutes=10)),
        ("Immediate", None),
        ("ASAP", None),
    ],
)
def test_response_time(text: str, expected: timedelta | None) -> None:
    assert parse_response_time(text) == expected


@pytest.mark.parametrize(
    ("title", "levels"),
    [
        ("Performance Issues (SEV-2/SEV-3)", (2, 3)),
        ("Service Down (SEV-1)", (1,)),
        ("Outage (SEV-1/2)", (1, 2)),
        ("SEV-4: Low", (4,)),
        ("Log Analysis", ()),
    ],
)
def test_title_severities(title: str, levels: tuple[int, ...]) -> None:
    assert title_severities(title) == levels


@pytest.mark.parametrize(
    ("command", "mutates"),
    [
        ("docker-compose restart testgen", True),
        ("docker-compose up -d --scale testgen=2", True),
        ("docker-compose down -v", True),
        ("redis-cli FLUSHALL", True),
        ("kill -9 1234", True),
        ("export FOO=bar", True),
        ("cp .env.example .env", True),
        ("kubectl scale deploy/testgen --replicas=3", True),
        ("sudo systemctl restart testgen-copilot", True),
        ("curl -X POST http://localhost:8000/admin/reload", True),
        ("docker exec pg psql -c 'DROP TABLE jobs'", True),
        ("docker ps | grep testgen", False),
        ("docker logs testgen-copilot --since 5m", False),
        ("curl -w '%{time_total}\\n' -s http://localhost:8000/health", False),
        ("systemctl status testgen-copilot", False),
        ("redis-cli info stats", False),
        ("top -p $(pgrep -f testgen)", False),
        ("git log --oneline -10", False),
        ('grep "restart" /var/log/app.log', False),
    ],
)
def test_changes_state(command: str, mutates: bool) -> None:
    assert changes_state(command) is mutates


def test_unknown_sections_are_kept_and_reported() -> None:
    text = HEAD + (
        "\n## Incident Response Process\n\n### 5. Celebrate\n```bash\n"
        "docker-compose restart testgen\ndocker ps\n```\n"
        "\n## Glossary\n\nWords.\n\n### Terms\n"
        "\n## Common Incident Scenarios\n\n### Appendix\n"
    )
    rb = parse_runbook_text(text)
    assert rb.unknown_sections == ["5. Celebrate", "Glossary", "Terms", "Appendix"]
    celebrate = rb.section("Celebrate")
    assert celebrate.kind == "unknown" and celebrate.parent == "Incident Response Process"
    # steps of unknown sections are kept; state rule, INVESTIGATION otherwise
    assert [s.role for s in celebrate.steps] == [Role.RESOLUTION, Role.INVESTIGATION]
    assert rb.section("Terms").parent == "Glossary"


def test_immediate_response_child_without_severity_is_unknown() -> None:
    text = (
        HEAD + "\n## Incident Response Process\n\n### 3. Immediate Response Actions\n\n#### Misc\n"
    )
    assert parse_runbook_text(text).unknown_sections == ["Misc"]


def test_heredoc_and_continuations() -> None:
    block = (
        "# write config\n"
        "cat > /tmp/x.conf <<'EOF'\n"
        "# not a comment\n"
        "key = 'unbalanced\n"
        "EOF\n"
        "echo 'a\n"
        "b' \\\n"
        "  | wc -l\n"
        'echo "it\'s # not a comment"\n'
        "# trailing instruction\n"
    )
    got = split_shell_block(block, 10, "x.md")
    assert got == [
        ("cat > /tmp/x.conf <<'EOF'\n# not a comment\nkey = 'unbalanced\nEOF", "write config", 11),
        ("echo 'a\nb' \\\n  | wc -l", "write config", 15),
        ('echo "it\'s # not a comment"', "write config", 18),
        ("", "trailing instruction", 19),
    ]


def test_apostrophe_in_inline_comment_is_not_a_quote() -> None:
    got = split_shell_block("vim .env  # don't forget\nls\n", 1, "x.md")
    assert [c for c, _, _ in got] == ["vim .env  # don't forget", "ls"]


def test_unterminated_heredoc() -> None:
    with pytest.raises(RunbookError) as info:
        split_shell_block("ls\ncat <<EOF\nhello\n", 5, "x.md")
    assert info.value.line == 6


def test_crlf_and_bom() -> None:
    text = HEAD + "\n## Tools and Resources\n\n### Useful Commands\n```bash\n# a\nls -l\n```\n"
    data = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()
    rb = parse_runbook_bytes(data, "crlf.md")
    (step,) = rb.section("Useful Commands").steps
    assert (step.command, step.comment, step.line) == ("ls -l", "a", HEAD_LINES + 7)
    assert rb.severities[2].response_time == timedelta(seconds=30)


def test_fence_in_list_item_and_tilde_fence() -> None:
    text = HEAD + (
        "\n## Tools and Resources\n\n### Useful Commands\n"
        "- Restart:\n\n  ```bash\n  docker-compose restart app\n  ```\n"
        "~~~sh\nuptime\n~~~\n"
    )
    rb = parse_runbook_text(text)
    assert [(s.command, s.line) for s in rb.section("Useful Commands").steps] == [
        ("docker-compose restart app", HEAD_LINES + 8),
        ("uptime", HEAD_LINES + 11),
    ]


def test_investigation_label_without_block() -> None:
    text = HEAD + (
        "\n## Common Incident Scenarios\n\n### Scenario 9: X\n\n"
        "**Investigation Steps**:\n\n**Resolution Steps**:\n```bash\nls\n```\n"
    )
    with pytest.raises(RunbookError) as info:
        parse_runbook_text(text)
    assert info.value.line == HEAD_LINES + 6


# --- Hypothesis ---------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text())
def test_arbitrary_text_only_raises_runbook_error(text: str) -> None:
    with contextlib.suppress(RunbookError):
        parse_runbook_text(text, "fuzz.md")


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_arbitrary_bytes_only_raises_runbook_error(data: bytes) -> None:
    with contextlib.suppress(RunbookError):
        parse_runbook_bytes(data, "fuzz.md")


_markdownish = st.lists(
    st.sampled_from(
        [
            "# T", "## Incident Severity Levels", "### SEV-1: A", "### SEV-2: B",
            "- **Response Time**: 5 minutes", "- **Response Time**: soon", "### SEV-9: Z",
            "## Common Incident Scenarios", "### Scenario 1: X", "**Resolution Steps**:",
            "**Investigation Steps**:", "```bash", "```", "```markdown", "echo 'a", "ls \\",
            "# comment", "", "#### Down (SEV-2)", "- [ ] item", "**Symptoms**: s",
            "## Incident Response Process", "### 3. Immediate Response Actions", "cat <<EOF",
            "EOF", "~~~", "> ```bash", "  ```",
        ]
    ),
    max_size=30,
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(_markdownish)
def test_markdownish_only_raises_runbook_error(lines: list[str]) -> None:
    try:
        rb = parse_runbook_text("\n".join(lines), "fuzz.md")
    except RunbookError as e:
        assert e.line is None or 1 <= e.line <= max(1, len(lines))
    else:
        assert rb.severities
        rb.to_dict()


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./=", min_size=1, max_size=8)
_command = (
    st.lists(_word, min_size=1, max_size=4)
    .map(" ".join)
    .filter(lambda c: not c.startswith(("#", "-")) and "<<" not in c)
)
_comment = st.lists(_word, min_size=1, max_size=4).map(" ".join)
_multiline = st.tuples(_word, _word, _word).map(lambda t: f'echo "{t[0]}\n{t[1]}\n" {t[2]}')
_continued = st.tuples(_word, _word).map(lambda t: f"ls {t[0]} \\\n    {t[1]}")
_group = st.tuples(_comment, st.lists(st.one_of(_command, _multiline, _continued), max_size=3))


@settings(max_examples=200, deadline=None)
@given(st.lists(_group, min_size=1, max_size=6), st.integers(0, 5))
def test_generated_runbook_round_trips_steps(
    groups: list[tuple[str, list[str]]], blank_lines: int
) -> None:
    lines = HEAD.split("\n")[:-1] + [""] * blank_lines
    lines += ["## Common Incident Scenarios", "", "### Scenario 1: Generated", ""]
    lines += ["**Resolution Steps**:", "```bash"]
    expected: list[tuple[str, str, int]] = []
    for comment, commands in groups:
        lines.append(f"# {comment}")
        if not commands:
            expected.append(("", comment, len(lines)))
        for command in commands:
            expected.append((command, comment, len(lines) + 1))
            lines.extend(command.split("\n"))
        lines.append("")
    lines.append("```")
    rb = parse_runbook_text("\n".join(lines) + "\n", "gen.md")
    section = rb.section("Scenario 1: Generated")
    assert [(s.command, s.comment, s.line) for s in section.steps] == expected
    assert all(s.role is Role.RESOLUTION for s in section.steps)
    for step in section.steps:
        if step.command:
            assert lines[step.line - 1] == step.command.split("\n")[0]
