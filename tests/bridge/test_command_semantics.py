"""Runbook commands mean what they mean in production (docs/design.md section 4).

Each test runs real commands through the operator's shell against a real local stack.
"""

from __future__ import annotations

import json
import time

from harness.backends.base import Status


def test_docker_ps_lists_running_containers_by_production_name(operator):
    out = operator.sh("docker ps")
    assert out.exit_code == 0
    for name in ("testgen-copilot", "testgen-postgres", "testgen-redis"):
        assert name in out.stdout
    assert "Up " in out.stdout


def test_grep_with_no_match_exits_1(operator):
    assert operator.sh("docker ps | grep no-such-container").exit_code == 1


def test_docker_kill_leaves_container_exited_137_and_down(operator):
    assert operator.sh("docker kill testgen-copilot").exit_code == 0
    time.sleep(0.5)  # a restart policy, wrongly applied, would bring it back by now
    assert operator.sh("docker ps | grep 'testgen-copilot$'").exit_code == 1
    listing = operator.sh("docker ps -a | grep testgen-copilot")
    assert "Exited (137)" in listing.stdout
    assert operator.stack.containers()["testgen"].status == Status.EXITED


def test_crash_outside_the_engine_is_restarted_by_policy(operator):
    operator.stack.crash("testgen")
    assert operator.stack.wait_healthy("testgen", 20)
    assert operator.stack.containers()["testgen"].restart_count == 1


def test_curl_reaches_production_localhost_8000_with_curls_exit_codes(operator):
    assert operator.sh("curl -f -s http://localhost:8000/health").exit_code == 0
    operator.sh("docker kill testgen-copilot")
    assert operator.sh("curl -f -s http://localhost:8000/health").exit_code == 7
    timing = operator.sh('curl -w "%{time_total}\\n" -s -o /dev/null http://localhost:8000/health')
    assert timing.exit_code == 7 and timing.stdout.strip().replace(".", "").isdigit()


def test_curl_f_fails_22_on_http_error(operator):
    assert operator.sh("curl -f -s http://localhost:8000/v1/jobs/nope").exit_code == 22


def test_export_never_reaches_a_running_service_and_restart_keeps_old_env(operator):
    operator.sh("export LOCAL_LLM_ENABLED=true")  # the deployment passes this one
    assert operator.shell.env["LOCAL_LLM_ENABLED"] == "true"
    assert operator.sh("docker-compose restart testgen").exit_code == 0
    env = operator.sh("docker inspect -f '{{.Config.Env}}' testgen-copilot").stdout
    assert "LOCAL_LLM_ENABLED=false" in env
    # The deployment's own secrets (its Redis password, an interpolation default) are masked.
    assert "testgen123" not in env and "redis://:[REDACTED]@" in env


def test_up_d_recreates_only_services_whose_config_changed(operator):
    before = operator.stack.containers()
    operator.sh("export LOCAL_LLM_ENABLED=true")
    out = operator.sh("docker-compose up -d")
    assert out.exit_code == 0, out.stderr
    assert "testgen-copilot  Recreated" in out.stderr
    after = operator.stack.containers()
    assert after["testgen"].config.env["LOCAL_LLM_ENABLED"] == "true"
    assert after["postgres"].created_at == before["postgres"].created_at  # untouched


def test_a_variable_the_deployment_never_interpolates_changes_nothing_even_on_up_d(operator):
    """PRIMARY_LLM_PROVIDER appears only in the runbook: no compose line passes it."""
    before = operator.stack.containers()["testgen"]
    operator.sh("export PRIMARY_LLM_PROVIDER=anthropic")
    out = operator.sh("docker-compose up -d")
    assert out.exit_code == 0, out.stderr
    after = operator.stack.containers()["testgen"]
    assert after.created_at == before.created_at  # not recreated: its config is unchanged
    assert "PRIMARY_LLM_PROVIDER" not in after.config.env


def test_up_d_named_service_does_not_recreate_others(operator):
    operator.sh("export LOCAL_LLM_ENABLED=true")
    out = operator.sh("docker-compose up -d ollama")
    assert out.exit_code == 0, out.stderr
    states = operator.stack.containers()
    assert "ollama" in states
    assert states["testgen"].config.env["LOCAL_LLM_ENABLED"] == "false"


def test_scale_fails_for_a_service_with_a_fixed_container_name(operator):
    out = operator.sh("docker-compose up -d --scale testgen=2")
    assert out.exit_code == 1
    assert "custom container name" in out.stderr


def test_down_v_deletes_the_database_data(operator):
    assert (
        operator.sh(
            "curl -s -f -X POST -H 'content-type: application/json' "
            '-d \'{"language": "python", "source": "def f(): pass"}\' '
            "http://localhost:8000/v1/generate"
        ).exit_code
        == 0
    )
    psql = "docker exec testgen-postgres psql -U testgen -tAc"
    count = f"{psql} 'select count(*) from jobs'"
    assert int(operator.sh(count).stdout.strip()) >= 1
    # A table of the test's own besides: the API creates an empty `jobs` again when it
    # starts, so whether `jobs` exists after `up` depends on which comes first.
    assert operator.sh(f"{psql} 'create table volume_marker (x int)'").exit_code == 0
    assert operator.sh("docker-compose down").exit_code == 0
    assert operator.sh("docker-compose up -d").exit_code == 0
    assert operator.stack.wait_healthy("postgres", 20)
    assert int(operator.sh(count).stdout.strip()) >= 1  # plain down keeps the volume
    assert operator.sh("docker-compose down -v").exit_code == 0
    assert operator.sh("docker-compose up -d").exit_code == 0
    assert operator.stack.wait_healthy("postgres", 20)
    out = operator.sh(f"{psql} 'select 1 from volume_marker'")
    assert out.exit_code != 0 and "volume_marker" in out.stderr, out  # gone with the volume
    out = operator.sh(count)  # the jobs are gone too, whether or not the API made the table
    assert (out.exit_code != 0 and "jobs" in out.stderr) or out.stdout.strip() == "0", out


def test_docker_logs_tail_and_since(operator):
    # The service's output reaches its log through a pipe read beside it, as the engine's
    # does: wait until its startup lines are in, so the three reads below see the same log.
    deadline = time.monotonic() + 20
    while "Application startup complete" not in (
        everything := operator.sh("docker logs testgen-copilot").stdout
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    everything = everything.splitlines()
    assert len(everything) >= 2
    assert (
        operator.sh("docker logs testgen-copilot --tail 1").stdout.splitlines() == everything[-1:]
    )
    assert operator.sh("docker logs testgen-copilot --since 5m").stdout.splitlines() == everything
    assert operator.sh("docker logs no-such").exit_code == 1


def test_docker_exec_resolves_service_names_inside_the_container(operator):
    # The mock provider's container (the chaos layer's own image) carries the tools.
    mock = "docker exec testgen-chaos-llm-1"
    assert operator.sh(f"{mock} pg_isready -h postgres -p 5432").exit_code == 0
    auth = "redis-cli -a testgen123 --no-auth-warning"
    assert operator.sh(f"docker exec testgen-redis {auth} ping").stdout.strip() == "PONG"
    assert operator.sh(f"{mock} {auth} -h redis ping").stdout.strip() == "PONG"
    assert operator.sh('docker exec testgen-postgres psql -U testgen -c "\\dt"').exit_code == 0
    operator.sh("docker kill testgen-postgres")
    assert operator.sh(f"{mock} pg_isready -h postgres -p 5432").exit_code == 2


def test_docker_exec_of_a_tool_the_deployments_image_lacks_fails_as_docker_does(operator):
    """The deployment's app image installs git and curl only: no pg_isready, psql, redis-cli
    (the stand-in API runs in its place, with the image's tools)."""
    for tool in ("pg_isready", "psql", "redis-cli"):
        out = operator.sh(f"docker exec testgen-copilot {tool} -h postgres")
        assert out.exit_code == 127, (tool, out)
        assert out.stderr.strip() == (
            "OCI runtime exec failed: exec failed: unable to start container process: "
            f'exec: "{tool}": executable file not found in $PATH: unknown'
        )
    assert operator.sh("docker exec testgen-copilot curl --version").exit_code == 0


def test_redis_cli_without_the_password_is_a_silent_no_op(operator):
    """The deployment's Redis runs with --requirepass: a host redis-cli without -a gets
    NOAUTH and still exits 0, and FLUSHALL flushes nothing."""
    auth = "redis-cli -a testgen123 --no-auth-warning"
    assert operator.sh(f"{auth} set canary 1").stdout.strip() == "OK"
    out = operator.sh("redis-cli FLUSHALL")
    assert (out.exit_code, out.stdout.strip()) == (0, "NOAUTH Authentication required.")
    assert operator.sh("redis-cli ping").stdout.strip() == "NOAUTH Authentication required."
    assert operator.sh(f"{auth} get canary").stdout.strip() == "1"  # nothing was flushed
    assert "keyspace_hits" in operator.sh(f"{auth} info stats").stdout
    assert operator.sh("REDISCLI_AUTH=testgen123 redis-cli ping").stdout.strip() == "PONG"
    assert operator.sh(f"{auth} FLUSHALL").stdout.strip() == "OK"
    assert operator.sh(f"{auth} get canary").stdout.strip() == ""


def test_provider_api_goes_to_the_mock_never_out(operator):
    out = operator.sh(
        'curl -s -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.com/v1/models'
    )
    assert out.exit_code == 0
    assert json.loads(out.stdout)["data"]


def test_api_key_is_redacted_from_step_output(operator):
    out = operator.sh("echo $OPENAI_API_KEY; env | grep OPENAI_API_KEY")
    assert operator.shell.env["OPENAI_API_KEY"] not in out.stdout
    assert "[REDACTED]" in out.stdout


def test_docker_stats_prints_one_sample_with_the_memory_limit(operator):
    out = operator.sh("docker stats testgen-copilot")
    assert out.exit_code == 0
    assert "testgen-copilot" in out.stdout and "MEM USAGE / LIMIT" in out.stdout


def test_docker_inspect_format_reports_oomkilled_and_exit_code(operator):
    operator.sh("docker kill testgen-copilot")
    out = operator.sh(
        "docker inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' testgen-copilot"
    )
    assert out.stdout.strip() == "false 137"


def test_var_log_testgen_is_the_stacks_service_log(operator):
    operator.sh("curl -s http://localhost:8000/health")
    out = operator.sh("tail -100 /var/log/testgen/app.log | grep -c INFO")
    assert out.exit_code == 0 and int(out.stdout) > 0


def test_cp_env_example_writes_in_the_operators_workdir(operator):
    (operator.stack.workdir / ".env").unlink()
    assert operator.sh("cp .env.example .env").exit_code == 0
    assert (operator.stack.workdir / ".env").exists()


def test_docker_run_env_shows_the_images_own_environment(operator):
    out = operator.sh("docker run --rm testgen-copilot:latest env")
    assert out.exit_code == 0 and "PATH=" in out.stdout
