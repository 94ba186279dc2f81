"""Network faults on a dependency link, through the fault proxy (Toxiproxy's REST API):
latency, bandwidth, timeout, reset_peer, slow_close, slicer, limit_data, and a cut link.

Each toxic type declares its attributes (`TOXIC_ATTRIBUTES`), checked when a scenario file
loads. The injector confirms a toxic by the effect its attributes ask for, measured through
the proxy against the same request sent directly to the service (`links.LinkProbe`): a
latency toxic must add at least 80 % of its latency, a bandwidth toxic must hold the link at
or below its rate (and below what the link carries without it), a timeout, reset or cut must
make requests fail, a data limit must close a connection that passes more than its bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.backends.base import Stack
from harness.faults.base import Fault
from harness.faults.links import LinkProbe, NotMeasurable, probe_for
from harness.faults.params import Param, ParamProblem
from harness.topology import PROXY_API_PORT
from harness.toxiproxy import Toxiproxy, ToxiproxyError

_HOUR_MS = 3_600_000
# Every toxic attribute a scenario may set, per Toxiproxy toxic type ("cut" disables the link).
TOXIC_ATTRIBUTES: dict[str, tuple[Param, ...]] = {
    "latency": (
        Param("latency", int, "delay added to each chunk of data", "ms", 1, 600_000, required=True),
        Param("jitter", int, "random variation of the delay, below latency", "ms", 0, 600_000),
    ),
    "bandwidth": (
        Param("rate", int, "most data let through per second", "KB/s", 1, 10**9, required=True),
    ),
    "timeout": (
        Param("timeout", int, "stop all data, close after this long (0: never)", "ms", 0, _HOUR_MS),
    ),
    "reset_peer": (
        Param("timeout", int, "reset the connection (TCP RST) after this long", "ms", 0, _HOUR_MS),
    ),
    "slow_close": (
        Param("delay", int, "delay before a close is passed on", "ms", 1, _HOUR_MS, required=True),
    ),
    "slicer": (
        Param("average_size", int, "average size of the slices data is cut into", "bytes", 1,
              1 << 20, required=True),
        Param("size_variation", int, "random variation of a slice's size, below average_size",
              "bytes", 0, 1 << 20),
        Param("delay", int, "pause between slices", "µs", 0, 10_000_000),
    ),
    "limit_data": (
        Param("bytes", int, "bytes let through before the connection is closed", "bytes", 0,
              1 << 40, required=True),
    ),
    "cut": (),
}
LATENCY_SHARE = 0.8  # a latency toxic is in effect from 80 % of the delay it asks for
RATE_SLACK = 1.25  # a bandwidth toxic's first slice passes at once: its measured rate can be above
ECHO_BYTES = (8_000, 2_000_000)  # smallest and largest echo a bandwidth or limit check sends


def toxiproxy_for(stack: Stack) -> Toxiproxy:
    host, port = stack.endpoint("toxiproxy", PROXY_API_PORT)
    return Toxiproxy(f"http://{host}:{port}", timeout=3)


class LinkToxic(Fault):
    """A toxic on one link; `toxic="cut"` disables the link instead."""

    kind = "network"
    params = (
        Param("link", str, "the fault proxy's link (x-proxies): postgres, redis, llm, ollama",
              required=True),
        Param("toxic", str, "the toxic type, or cut", choices=tuple(TOXIC_ATTRIBUTES)),
        Param("stream", str, "the direction it acts on", choices=("upstream", "downstream")),
    )

    def __init__(
        self, link: str, toxic: str = "latency", stream: str = "downstream", **attributes: int
    ) -> None:
        self.link, self.toxic, self.stream, self.attributes = link, toxic, stream, attributes

    @classmethod
    def parameters(cls, given: Mapping[str, Any]) -> tuple[Param, ...]:
        return cls.params + TOXIC_ATTRIBUTES.get(str(given.get("toxic", "latency")), ())

    @classmethod
    def check_params(cls, given: Mapping[str, Any]) -> list[ParamProblem]:
        toxic = given.get("toxic", "latency")
        what = f"fault 'network' ({toxic} toxic)" if toxic in TOXIC_ATTRIBUTES else None
        problems = super().check_params(given)
        if what:  # name the toxic: its attributes are what differs between toxics
            problems = [ParamProblem(k, m.replace("fault 'network'", what, 1))
                        for k, m in problems]  # fmt: skip
        for smaller, larger in (("jitter", "latency"), ("size_variation", "average_size")):
            low, high = given.get(smaller), given.get(larger)
            if not problems and isinstance(low, int) and isinstance(high, int) and low >= high:
                problems.append(
                    ParamProblem(smaller, f"{what}: {smaller} must be below {larger} ({high})")
                )
        return problems

    def inject(self, stack: Stack) -> None:
        with toxiproxy_for(stack) as api:
            self.add(api)

    def add(self, api: Toxiproxy) -> None:
        if self.toxic == "cut":
            api.update_proxy(self.link, enabled=False)
        else:
            api.add_toxic(self.link, self.toxic, self.attributes, stream=self.stream,
                          name=f"gameday_{self.toxic}")  # fmt: skip

    def confirm(self, stack: Stack) -> str | None:
        with toxiproxy_for(stack) as api:
            return self.effect(api, probe_for(stack, self.link))

    def effect(self, api: Toxiproxy, probe: LinkProbe) -> str | None:
        """Evidence that the toxic does what its attributes ask, or None (with `shortfall`
        saying what was measured instead)."""
        info = api.get_proxy(self.link)
        if self.toxic == "cut":
            if not info["enabled"] and probe.round_trip(timeout=1.0) is None:
                return f"link {self.link} cut: connections through the proxy fail"
            return self._short(f"link {self.link} still carries requests (enabled: "
                               f"{info['enabled']})")  # fmt: skip
        if not any(t["name"] == f"gameday_{self.toxic}" for t in info["toxics"]):
            return self._short(f"no {self.toxic} toxic listed on link {self.link}")
        if self.toxic == "latency":
            return self._latency(probe)
        if self.toxic == "bandwidth":
            return self._bandwidth(probe)
        if self.toxic in ("timeout", "reset_peer"):
            if probe.round_trip(timeout=3.0) is None:
                return f"link {self.link}: requests through the proxy fail ({self.toxic})"
            return self._short(f"link {self.link}: a request through the proxy still succeeds "
                               f"with the {self.toxic} toxic")  # fmt: skip
        if self.toxic == "limit_data":
            return self._limit_data(probe)
        return (f"{self.toxic} toxic listed on link {self.link} (its effect is not measured; "
                f"a round trip takes {_ms(probe.round_trip(timeout=5.0))})")  # fmt: skip

    def _short(self, measured: str) -> str | None:
        self.shortfall = measured
        return None

    def _latency(self, probe: LinkProbe) -> str | None:
        asked = self.attributes.get("latency", 0)
        needed = LATENCY_SHARE * (asked - self.attributes.get("jitter", 0))
        through = probe.round_trip(timeout=5.0 + asked / 1000)
        direct = probe.round_trip(direct=True)
        if through is None or direct is None:
            return self._short(f"link {self.link}: round trip {_ms(through)} through the proxy, "
                               f"{_ms(direct)} direct; asked +{asked} ms")  # fmt: skip
        added = (through - direct) * 1000
        words = (f"link {self.link}: round trip {_ms(through)} through the proxy vs "
                 f"{_ms(direct)} direct: +{added:.0f} ms")  # fmt: skip
        if asked <= 0:  # Toxiproxy's default: a latency toxic without a latency does nothing
            return self._short(f"{words}, asked no latency (a 0 ms latency toxic does nothing)")
        if added >= needed:
            return f"{words}, asked +{asked} ms"
        return self._short(f"{words}, asked +{asked} ms (at least {needed:.0f} ms)")

    def _bandwidth(self, probe: LinkProbe) -> str | None:
        rate = self.attributes.get("rate", 0)  # KB/s
        size = max(ECHO_BYTES[0], min(ECHO_BYTES[1], rate * 500))  # ~0.5 s at the rate
        try:
            direct = self._direct_echo(probe, size)
        except NotMeasurable as exc:
            return f"bandwidth toxic listed on link {self.link} (not measured: {exc})"
        through = probe.echo(size, timeout=5.0 + 2 * size / (rate * 1000))
        if through is None:
            return self._short(f"link {self.link}: an echo of {size} bytes failed through the "
                               f"proxy ({_ms(direct)} direct)")  # fmt: skip
        # An echo carries `size` bytes on each stream; the toxic limits one of them.
        measured, without = size / 1000 / through, size / 1000 / direct
        words = (f"link {self.link}: {measured:.0f} KB/s through the proxy vs {without:.0f} KB/s "
                 f"direct, asked at most {rate} KB/s")  # fmt: skip
        if measured > rate * RATE_SLACK:
            return self._short(words)
        if without <= rate:
            return self._short(f"{words}: the link is that slow without the toxic")
        return words

    @staticmethod
    def _direct_echo(probe: LinkProbe, size: int) -> float:
        """The echo straight to the service: the yardstick. NotMeasurable when even that
        fails (a service that does not echo): the toxic's effect cannot be told then."""
        direct = probe.echo(size, direct=True)
        if direct is None:
            raise NotMeasurable(f"an echo of {size} bytes fails without the proxy too")
        return direct

    def _limit_data(self, probe: LinkProbe) -> str | None:
        limit = self.attributes.get("bytes", 0)
        if limit + 1024 > ECHO_BYTES[1]:
            return (f"limit_data toxic listed on link {self.link} (not measured: "
                    f"{limit} bytes is more than a check sends)")  # fmt: skip
        try:
            self._direct_echo(probe, limit + 1024)
        except NotMeasurable as exc:
            return f"limit_data toxic listed on link {self.link} (not measured: {exc})"
        through = probe.echo(limit + 1024, timeout=5.0)
        if through is None:
            return f"link {self.link}: a connection passing over {limit} bytes is closed"
        return self._short(f"link {self.link}: {limit + 1024} bytes echoed through the proxy "
                           f"in {_ms(through)}, asked at most {limit} bytes per connection")

    def diagnose(self, stack: Stack) -> str | None:
        with toxiproxy_for(stack) as api:
            info = api.get_proxy(self.link)
        if self.toxic == "cut" and not info["enabled"]:
            return f"the network link to {self.link} is still cut: no step checks or restores it"
        if any(t["name"] == f"gameday_{self.toxic}" for t in info["toxics"]):
            return f"the {self.toxic} on the link to {self.link} is still there"
        return None

    def still_in_effect(self, stack: Stack) -> str | None:
        return self.diagnose(stack)

    def lift(self, stack: Stack) -> None:
        with toxiproxy_for(stack) as api:
            if self.toxic == "cut":
                api.update_proxy(self.link, enabled=True)
            else:
                try:
                    api.remove_toxic(self.link, f"gameday_{self.toxic}")
                except ToxiproxyError:
                    pass

    @property
    def description(self) -> str:
        if self.toxic == "cut":
            return f"The network link from the TestGen API to {self.link} was cut."
        attrs = ", ".join(f"{k}={v}" for k, v in self.attributes.items())
        return (f"The network link from the TestGen API to {self.link} got a {self.toxic} "
                f"toxic ({attrs}).")


class Toxics(Fault):
    """Several link faults at once (e.g. latency on PostgreSQL and on the LLM provider)."""

    kind = "network-multi"
    declarable = False  # a scenario file names its link faults one by one

    def __init__(self, *faults: LinkToxic) -> None:
        self.faults = faults

    def inject(self, stack: Stack) -> None:
        for f in self.faults:
            f.inject(stack)

    def confirm(self, stack: Stack) -> str | None:
        evidence = [f.confirm(stack) for f in self.faults]
        short = [f.shortfall for f, e in zip(self.faults, evidence, strict=True) if not e]
        self.shortfall = "; ".join(s for s in short if s) or None
        return "; ".join(e for e in evidence if e) if all(evidence) else None

    def lift(self, stack: Stack) -> None:
        for f in self.faults:
            f.lift(stack)

    def still_in_effect(self, stack: Stack) -> str | None:
        present = [e for f in self.faults if (e := f.still_in_effect(stack))]
        return "; ".join(present) or None

    def diagnose(self, stack: Stack) -> str | None:
        return self.still_in_effect(stack)

    @property
    def description(self) -> str:
        return " ".join(f.description for f in self.faults)


def _ms(seconds: float | None) -> str:
    return "failed" if seconds is None else f"{seconds * 1000:.0f} ms"
