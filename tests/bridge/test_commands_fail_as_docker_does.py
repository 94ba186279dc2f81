"""Bridge commands that Docker or Compose would refuse are refused the same way (issue 12,
item 8): a step that would fail in production must not pass in the gameday.

Real commands through the operator's shell against a real local stack.
"""

from __future__ import annotations

import pytest

from harness.backends.base import ContainerState, Status
from harness.bridge.humanize import container_id
from harness.compose import ComposeFile

VOLUME = "testgen-chaos_postgres-data"  # <project>_<key>, as Compose names it


# -- docker ps --filter ----------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--filter x=1", "-f x=1", "--filter=x=1", "-f X=1"])
def test_ps_with_an_unknown_filter_key_fails_as_the_daemon_does(operator, flag):
    out = operator.sh(f"docker ps {flag}")
    key = flag.split()[-1].split("=")[-2]
    assert (out.exit_code, out.stdout) == (1, "")
    assert out.stderr == f"Error response from daemon: invalid filter '{key}'\n"


def test_ps_with_an_unknown_filter_key_makes_the_pipeline_fail(operator):
    assert operator.sh("docker ps --filter bogus=1 | grep testgen-copilot").exit_code == 1


def test_ps_filter_without_a_value_is_the_clis_usage_error(operator):
    out = operator.sh("docker ps --filter name")
    assert out.exit_code == 125
    assert "bad format of filter (expected name=value)" in out.stderr


def test_ps_status_filter_refuses_a_state_docker_does_not_have(operator):
    out = operator.sh("docker ps -a --filter status=stopped")
    assert out.exit_code == 1
    assert out.stderr.startswith(
        "Error response from daemon: invalid filter 'status=stopped': "
        "invalid value for state (stopped): must be one of created, running,"
    )
    assert operator.sh("docker ps -f exited=x").exit_code == 1


def test_ps_filters_or_within_a_key_and_across_keys(operator):
    both = operator.sh("docker ps -q -f name=testgen-redis -f name=testgen-postgres")
    assert len(both.stdout.split()) == 2
    anchored = operator.sh("docker ps -q -f name=^testgen-redis$")
    assert len(anchored.stdout.split()) == 1
    none = operator.sh("docker ps -q -f name=testgen-redis -f status=exited")
    assert (none.exit_code, none.stdout) == (0, "")


def test_ps_status_exited_lists_killed_containers_without_a(operator):
    operator.sh("docker kill testgen-copilot")
    out = operator.sh("docker ps --filter status=exited --filter exited=137")
    assert out.exit_code == 0
    assert "testgen-copilot" in out.stdout and "testgen-redis" not in out.stdout


def test_ps_id_and_label_filters_match_the_container(operator):
    full = operator.sh("docker inspect -f '{{.Id}}' testgen-copilot").stdout.strip()
    by_id = operator.sh(f"docker ps -q -f id={full[:12]}")
    assert by_id.stdout.split() == [full[:12]]
    by_label = operator.sh("docker ps -q -f label=com.docker.compose.service=redis")
    assert len(by_label.stdout.split()) == 1


# -- docker-compose of a service the compose file does not have -------------------------------
@pytest.mark.parametrize("command", ["stop", "start", "logs", "restart"])
def test_compose_of_a_service_the_file_does_not_have_fails_as_compose_v2(operator, command):
    before = operator.stack.containers()
    out = operator.sh(f"docker-compose {command} testgen-api")
    assert out.exit_code == 1
    assert out.stderr == "no such service: testgen-api\n"
    after = operator.stack.containers()
    assert {s: c.status for s, c in after.items()} == {s: c.status for s, c in before.items()}
    assert all(after[s].started_at == before[s].started_at for s in before)  # nothing touched


def test_compose_start_of_a_declared_service_without_a_container_fails(operator):
    operator.stack.remove("ollama")  # declared, but its container is gone
    out = operator.sh("docker-compose start ollama")
    assert out.exit_code == 1 and "has no container to start" in out.stderr


def test_compose_logs_takes_its_own_options(operator):
    operator.sh("curl -s http://localhost:8000/health")
    out = operator.sh("docker-compose logs -t --tail 1 testgen")
    assert out.exit_code == 0, out.stderr
    assert len(out.stdout.splitlines()) == 1 and out.stdout.startswith("testgen-copilot  | ")


# -- docker volume ------------------------------------------------------------------------------
def test_volume_ls_lists_the_compose_files_named_volumes(operator):
    out = operator.sh("docker volume ls")
    assert out.exit_code == 0
    # The deployment's three volumes (ollama's models, PostgreSQL's data, Redis's AOF).
    rows = "".join(f"local     testgen-chaos_{v}-data\n" for v in ("ollama", "postgres", "redis"))
    assert out.stdout == f"DRIVER    VOLUME NAME\n{rows}"
    assert VOLUME in operator.sh("docker volume ls -q").stdout.splitlines()
    assert operator.sh("docker volume ls -q -f dangling=true").stdout == ""
    assert operator.sh("docker volume ls -f bogus=1").exit_code == 1


def test_volume_rm_of_a_volume_in_use_fails_and_keeps_the_data(operator):
    # A table of the test's own: whether the API has made its `jobs` table yet when `up`
    # returns depends on the API's start, not on the volume.
    psql = "docker exec testgen-postgres psql -U testgen -tAc"
    assert operator.sh(f"{psql} 'create table volume_marker (x int)'").exit_code == 0
    count = f"{psql} 'select count(*) from volume_marker'"
    assert operator.sh(count).exit_code == 0
    out = operator.sh(f"docker volume rm {VOLUME}")
    assert out.exit_code == 1
    assert out.stderr.startswith(f"Error response from daemon: remove {VOLUME}: volume is in use")
    operator.sh("docker stop testgen-postgres")  # a stopped container still holds it
    assert operator.sh(f"docker volume rm {VOLUME}").exit_code == 1
    operator.sh("docker start testgen-postgres")
    assert operator.stack.wait_healthy("postgres", 20)
    assert operator.sh(count).exit_code == 0
    assert operator.stack.volume_removals == []


def test_volume_rm_after_down_deletes_the_data_and_up_recreates_it_empty(operator):
    # A table of the test's own: the API creates its `jobs` table again when it starts, so
    # whether `jobs` exists after `up` depends on which comes first, the API or the check.
    psql = "docker exec testgen-postgres psql -U testgen -tAc"
    assert operator.sh(f"{psql} 'create table volume_marker (x int)'").exit_code == 0
    assert operator.sh("docker-compose down").exit_code == 0
    assert VOLUME in operator.sh("docker volume ls -q").stdout.splitlines()  # down keeps them
    out = operator.sh(f"docker volume rm {VOLUME}")
    assert (out.exit_code, out.stdout) == (0, f"{VOLUME}\n")
    assert VOLUME not in operator.sh("docker volume ls -q").stdout.splitlines()
    assert [names for _, names in operator.stack.volume_removals] == [[VOLUME]]
    assert operator.sh("docker-compose up -d").exit_code == 0
    assert operator.stack.wait_healthy("postgres", 20)
    assert VOLUME in operator.sh("docker volume ls -q").stdout.splitlines()
    out = operator.sh(f"{psql} 'select 1 from volume_marker'")
    assert out.exit_code != 0 and "volume_marker" in out.stderr, out  # a fresh database


def test_volume_rm_of_no_such_volume(operator):
    out = operator.sh("docker volume rm nope")
    assert (out.exit_code, out.stderr) == (
        1,
        "Error response from daemon: get nope: no such volume\n",
    )
    assert operator.sh("docker volume rm -f nope").exit_code == 0


# -- IDs ------------------------------------------------------------------------------------------
def test_ps_and_inspect_show_one_id_per_container(operator):
    full = operator.sh("docker inspect -f '{{.Id}}' testgen-redis").stdout.strip()
    assert len(full) == 64
    listed = operator.sh("docker ps -f name=testgen-redis").stdout.splitlines()[1].split()[0]
    assert listed == full[:12]
    assert operator.sh(f"docker logs {full[:12]}").exit_code == 0


def test_the_engines_id_is_the_one_shown_where_there_is_an_engine(root):
    config = ComposeFile(root / "docker-compose.chaos.yml").resolve({}, {})[0]["redis"]
    engine = "f" * 64
    state = ContainerState("redis", "testgen-redis", config, Status.RUNNING, engine_id=engine)
    assert container_id(state) == engine
    state.engine_id = ""
    assert len(container_id(state)) == 64 and container_id(state) != engine
