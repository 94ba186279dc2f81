"""The LLM provider misbehaves: quota exhausted, rate-limited, 5xx, slow, hung, malformed.

Set through the mock provider's control API; confirmed by its own count of the error
answers it actually served to the TestGen service.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from harness.backends.base import Stack
from harness.faults.base import Fault
from harness.faults.params import Param
from harness.services.contract import MODES, PROVIDERS
from harness.tls import shared_context

ERROR_STATUS = {"quota_exceeded": 429, "rate_limited": 429, "server_error": 500}
# The local LLM is the runbook's fallback, not a provider whose quota runs out; "ok" is no fault.
HOSTED = tuple(p for p in PROVIDERS if p != "ollama")
FAULT_MODES = tuple(m for m in MODES if m != "ok")


class LlmProviderFault(Fault):
    kind = "llm-provider"
    params = (
        Param("provider", str, "the hosted provider the service calls first", choices=HOSTED),
        Param("mode", str, "how the provider misbehaves", choices=FAULT_MODES),
        Param("ratio", float, "share of requests answered in that mode (default: all)",
              minimum=0.01, maximum=1.0),
        Param("delay_ms", int, "answer delay in mode slow (default 2000)", "ms", minimum=1,
              maximum=600_000),
        Param("also", list, "further providers put in the same mode", choices=HOSTED),
    )

    def __init__(
        self,
        provider: str = "openai",
        mode: str = "quota_exceeded",
        ratio: float | None = None,
        delay_ms: int | None = None,
        also: Sequence[str] = (),
    ) -> None:
        self.provider, self.mode, self.ratio, self.delay_ms = provider, mode, ratio, delay_ms
        # Further providers put in the same mode (e.g. every hosted one exhausted). Only
        # `provider`, the one the service calls first, confirms that the fault took.
        self.also = tuple(also)
        self._served_before = 0

    def _control(self, stack: Stack) -> str:
        host, port = stack.endpoint("llm", 8080)
        return f"http://{host}:{port}/_chaos"

    def _served(self, stack: Stack) -> int:
        """Error answers (or hangs / slow answers) the provider has served so far."""
        url = f"{self._control(stack)}/stats"
        stats = httpx.get(url, timeout=2, verify=shared_context()).json()
        mine = stats.get(self.provider, {})
        if self.mode in ERROR_STATUS:
            return int(mine.get("responses", {}).get(str(ERROR_STATUS[self.mode]), 0))
        if self.mode == "hang":
            return int(mine.get("hangs", 0))
        return int(mine.get("requests", 0))

    def inject(self, stack: Stack) -> None:
        self._served_before = self._served(stack)
        for provider in (self.provider, *self.also):
            body: dict[str, object] = {"provider": provider, "mode": self.mode}
            if self.ratio is not None:
                body["ratio"] = self.ratio
            if self.delay_ms is not None:
                body["delay_ms"] = self.delay_ms
            httpx.put(
                f"{self._control(stack)}/mode", json=body, timeout=2, verify=shared_context()
            ).raise_for_status()

    def confirm(self, stack: Stack) -> str | None:
        """The provider reports the mode asked and has served answers in it to the service
        (its own count of 429s, 500s, hangs or requests since the injection)."""
        mode = self._modes(stack).get(self.provider, "unknown")
        served = self._served(stack) - self._served_before
        if mode == self.mode and served > 0:
            return f"{self.provider} provider in mode {self.mode}: {served} such answers served"
        self.shortfall = (f"{self.provider} provider in mode {mode} (asked {self.mode}), "
                          f"{served} such answers served")  # fmt: skip
        return None

    def _modes(self, stack: Stack) -> dict[str, str]:
        """Each provider's mode, as the provider's control API reports it."""
        modes = httpx.get(f"{self._control(stack)}/mode", timeout=2, verify=shared_context()).json()
        return {
            provider: str(mode.get("mode", mode) if isinstance(mode, dict) else mode)
            for provider, mode in modes.items()
        }

    # An exhausted quota is not the runbook's to fix: it must route around it (a fallback).
    is_incident = False

    def still_in_effect(self, stack: Stack) -> str | None:
        modes = self._modes(stack)
        failing = []
        for provider in (self.provider, *self.also):
            mode = modes.get(provider, "")
            if mode and mode != "ok":
                failing.append(f"{provider} ({mode})")
        if failing:
            return "still failing: " + ", ".join(failing)
        return None

    def diagnose(self, stack: Stack) -> str | None:
        what = self.description.split(" API ", 1)[-1].split(" APIs ", 1)[-1].rstrip(".")
        if self.also:  # "answers ..." → "answer ...": several APIs
            first, _, rest = what.partition(" ")
            what = f"{first.removesuffix('s')} {rest}"
        return f"the {self._names} API{'s' if self.also else ''} still {what}"

    def lift(self, stack: Stack) -> None:
        for provider in (self.provider, *self.also):
            httpx.put(
                f"{self._control(stack)}/mode",
                json={"provider": provider, "mode": "ok"},
                timeout=2,
                verify=shared_context(),
            ).raise_for_status()

    @property
    def _names(self) -> str:
        return " and ".join((self.provider, *self.also))

    @property
    def description(self) -> str:
        what = {
            "quota_exceeded": "answers 429 insufficient_quota (the account's quota is exhausted)",
            "rate_limited": "answers 429 with Retry-After (rate limited)",
            "server_error": "answers 500 server errors",
            "slow": f"answers after {self.delay_ms or 2000} ms",
            "hang": "accepts requests and never answers",
            "malformed": "answers 200 with a body that is not valid JSON",
        }.get(self.mode, self.mode)
        share = f" for {self.ratio:.0%} of requests" if self.ratio is not None else ""
        apis = "APIs" if self.also else "API"
        return f"The {self._names} LLM {apis} {what}{share}."
