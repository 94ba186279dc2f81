"""The humanizing pass: the stack's names, not loopback ports or Python reprs."""

from __future__ import annotations

import pytest

from harness.reports._humanize import UNKNOWN_ADDRESS, clauses, humanize, readable_json

MAP = {"127.0.0.1:22084": "localhost:8000", "127.0.0.1:26746": "redis:6379"}


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("GET http://127.0.0.1:22084/health", "GET http://localhost:8000/health"),
        ("Failed to connect to 127.0.0.1 port 22084", "Failed to connect to localhost port 8000"),
        ("port 22084 on 127.0.0.1 is already in use", "port 8000 on localhost is already in use"),
        ("starting host=127.0.0.1 port=22084", "starting host=localhost port=8000"),
        ('listening on "127.0.0.1", port 26746', 'listening on "redis", port 6379'),
        ("reading from 127.0.0.1:26746", "reading from redis:6379"),
    ],
)
def test_every_shape_of_a_mapped_address_gets_the_stacks_name(raw, shown):
    assert humanize(raw, MAP) == shown


def test_an_address_the_map_does_not_know_gets_a_generic_wording():
    text = humanize("Error while reading from 127.0.0.1:30702 : boom; port 30702 on 127.0.0.1", {})
    assert "127.0.0.1" not in text and "30702" not in text
    assert text == f"Error while reading from {UNKNOWN_ADDRESS}: boom; {UNKNOWN_ADDRESS}"


def test_python_reprs_of_os_errors_become_their_message():
    assert humanize("reset: (104, 'Connection reset by peer')") == "reset: connection reset by peer"
    assert humanize("[Errno 111] Connection refused") == "Connection refused"


def test_a_json_body_in_a_reason_is_put_in_words():
    text = readable_json('/ready answered 503: {"postgres":"error: no answer","redis":"ok"}')
    assert text == "/ready answered 503 (postgres: error: no answer; redis ok)"
    assert readable_json("x: {not json}") == "x: {not json}"


def test_clauses_split_where_the_runner_joined_findings_not_inside_brackets():
    assert clauses("a failed; b (1; 2) still; c") == ["a failed", "b (1; 2) still", "c"]
