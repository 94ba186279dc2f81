"""One compose service as a Testcontainers `DockerContainer`, created exactly as Compose
would create it from the resolved `ServiceConfig`.

    ServiceConfig ──▶ ServiceContainer ──start()──▶ engine: create + start
      image, command, environment         ports on 127.0.0.1:<fixed host port>
      restart, mem_limit, healthcheck     network aliases: service name + container_name
      volumes (named → stack volume,      HostConfig: RestartPolicy, Memory (no extra swap)
               ./path → stack dir)        labels: gameday.stack / service / fingerprint

Restart policies, memory limits, OOM kills and healthchecks are the engine's own; the
harness only reads them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from harness.backends.docker import labels as lbl
from harness.backends.docker.location import LOOPBACK
from harness.compose import Healthcheck, ServiceConfig

NANOSECONDS = 1_000_000_000


def restart_policy(policy: str) -> dict[str, Any]:
    """Compose's `restart:` value as the engine's RestartPolicy."""
    name, _, retries = policy.partition(":")
    if name == "on-failure":
        return {"Name": "on-failure", "MaximumRetryCount": int(retries or 0)}
    return {"Name": name or "no"}


def healthcheck(hc: Healthcheck) -> dict[str, Any]:
    return {
        "test": list(hc.test),
        "interval": int(hc.interval_s * NANOSECONDS),
        "timeout": int(hc.timeout_s * NANOSECONDS),
        "retries": hc.retries,
        "start_period": 0,
    }


def healthcheck_argv(hc: Healthcheck) -> list[str] | None:
    """The healthcheck's test as an argv for `docker exec`, or None (NONE / unknown form)."""
    kind, *rest = hc.test
    if kind == "CMD" and rest:
        return list(rest)
    if kind == "CMD-SHELL" and rest:
        return ["/bin/sh", "-c", " ".join(rest)]
    return None


class ServiceContainer(DockerContainer):
    """A compose service's container on the stack's network.

    ServiceContainer(config, network=net, docker_name="testgen-copilot",
                     host_ports={8000: 41234}, mounts={...}, labels={...}).start()
    """

    def __init__(
        self,
        config: ServiceConfig,
        *,
        network: Network,
        docker_name: str,
        host_ports: dict[int, int],
        mounts: dict[str, str],
        labels: dict[str, str],
        dns: list[str] | None = None,
        bind: str = LOOPBACK,
    ) -> None:
        super().__init__(
            config.image,
            command=cast(Any, list(config.command) or None),  # None: the image's CMD
            env=config.env,
            name=docker_name,
            network=network,
            network_aliases=list(dict.fromkeys([config.name, config.container_name])),
        )
        # docker-py takes (host ip, host port) for a binding; Testcontainers' own
        # helpers only bind every interface, and on a local engine the stack must stay on
        # loopback (`bind`: every interface of a remote engine's host, see location.py).
        self.ports = cast(
            dict[str, int | None],
            {
                f"{container}/tcp": (bind, host)
                for container, host in sorted(host_ports.items())
            },
        )
        for source, target in mounts.items():
            self.with_volume_mapping(source, target, "rw")
        kwargs: dict[str, Any] = {
            "labels": {
                **labels,
                lbl.SERVICE: config.name,
                lbl.FINGERPRINT: config.fingerprint(),
                lbl.PRODUCTION_NAME: config.container_name,
            },
            "restart_policy": restart_policy(config.restart),
        }
        if dns:  # upstream DNS for names the engine's own DNS does not know (resolver.py)
            kwargs["dns"] = dns
        if config.mem_limit_bytes:
            # No swap on top of the limit: past it the kernel OOM-kills, as on a swapless host.
            kwargs["mem_limit"] = config.mem_limit_bytes
            kwargs["memswap_limit"] = config.mem_limit_bytes
        if config.healthcheck is not None:
            kwargs["healthcheck"] = healthcheck(config.healthcheck)
        self.with_kwargs(**kwargs)
        self.config = config


def mounts_for(
    config: ServiceConfig, stack_dir: Path, volume_names: dict[str, str]
) -> dict[str, str]:
    """Compose `volumes:` → engine mounts: a named volume becomes the stack's own volume
    (`volume_names`), a `./path` a directory in the stack's directory (as the local
    backend lays it out, so `host_path()` finds the same files)."""
    mounts = {}
    for entry in config.volumes:
        source, _, rest = entry.partition(":")
        target = rest.split(":", 1)[0]
        if source.startswith((".", "/")):
            host = Path(source) if source.startswith("/") else (stack_dir / source).resolve()
            host.mkdir(parents=True, exist_ok=True)
            mounts[str(host)] = target
        else:
            mounts[volume_names.get(source, source)] = target
    return mounts
