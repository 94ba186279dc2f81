"""The verify window: did steady state come back after the resolution steps, and hold?

    seek: probe every poll interval until a full probe passes (health, ready, a generate
          round trip whose job reads back): recovery first seen (TTR)
    hold: keep probing for the hold window under the background load; a failed probe, or a
          container restarted or OOM-killed, breaks it ("recovered, then lost after N s")
    end:  the hold window has passed and a generate round trip confirms it; the fault checked

The probe is a client of the API (harness.observe.probes.Prober): its generate round trips
stay under the API's declared rate limit. A round trip the limit holds back is *not checked*,
never a failure: the window waits for the budget (at most one rate-limit window past its
end), and a hold the limit kept from being confirmed is named in `unconfirmed`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.backends.base import Stack, Status
from harness.faults.base import Fault
from harness.observe.probes import Observation, Prober
from harness.observe.ratelimit import WINDOW_S
from harness.run.verdict import Verification

# A failing verify window ends early once the failure has been stable this long and cannot
# change (see settled); a hold or a verdict that could still change never does.
QUIESCENT_S = 3.0
SETTLED_STATUSES = frozenset({Status.RUNNING, Status.EXITED})
MIN_GAP_S = 0.02  # between two probes, so a slow answer never spins on the CPU
# Once recovery is seen (TTR is known to the poll interval), the hold is probed this often: a
# restart or OOM kill in between is still caught by the engine's counters.
HOLD_PROBE_S = 0.3
Emit = Callable[[str, str], None]


def failure_signature(observed: str) -> str:
    """What failed, without the wording of the error: a dependency's client words the same
    outage differently from one attempt to the next ("Connection closed by server.", "Error
    111 connecting ..."), which is not a change of the failure."""
    text = re.sub(r'error: [^"]*', "error", observed)
    return re.sub(r"^(\w+Error): .*", r"\1", text)


def restart_signature(stack: Stack) -> dict[str, tuple[int, bool]]:
    return {
        name: (state.restart_count, state.status == Status.RUNNING)
        for name, state in stack.containers().items()
    }


def settled(stack: Stack, fault: Fault) -> str:
    """Why the verify window cannot end otherwise, or "" if it still could.

    Ended early only when the failure is provably stable: the same observation for
    QUIESCENT_S, no container restarting or starting, and the fault still in effect (it is not
    lifted while this window runs, and nothing else removes it)."""
    pending = [s.name for s in stack.containers().values() if s.status not in SETTLED_STATUSES]
    if pending:
        return ""
    try:
        present = fault.still_in_effect(stack)
    except NotImplementedError:
        return ""
    except Exception:  # noqa: BLE001 - an unanswered check proves nothing: keep waiting
        return ""
    if not present:
        return ""
    return (
        f"the failure was unchanged for {QUIESCENT_S:.0f}s with nothing restarting and "
        f"the fault still in effect ({present}): the verdict cannot change in this window"
    )


@dataclass
class _Window:
    """The loop's state (gameday clock)."""

    since: float | None = None  # start of the current stretch of passing probes
    ever_seen: float | None = None  # first full pass in this window
    lost: str = ""  # the last stretch that broke: "after N s (what broke it)"
    quiet: tuple[float, str] | None = None  # (since, failure) of a stable failure
    ended_early: str = ""
    limit_waits: int = 0  # probes whose generate round trip the rate limit held back
    informative: list[float] = field(default_factory=list)  # probes that could see recovery
    restarts: dict[str, list[float]] = field(default_factory=dict)  # service -> when (from t0)


class VerifyWindow:
    """One verify window over a stack, probed by `prober`; `run()` gives its Verification."""

    def __init__(
        self,
        stack: Stack,
        fault: Fault,
        prober: Prober,
        now: Callable[[], float],
        emit: Emit,
        *,
        hold_s: float,
        window_s: float,
        poll_interval: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.stack, self.fault, self.prober, self.now, self.emit = stack, fault, prober, now, emit
        self.sleep = sleep
        self.hold_s, self.window_s, self.poll_interval = hold_s, window_s, poll_interval
        self.resolution_s: float | None = None  # TTR's precision, once run
        self._phase = "verify"

    def run(self, t0: float, phase: str) -> Verification:
        self._phase = phase
        w = _Window()
        opened = self.now()
        signature = restart_signature(self.stack)
        observed, unconfirmed = "", ""
        while True:
            started = self.now()
            seen = self.prober()
            observed = seen.observed
            sig = restart_signature(self.stack)
            if sig != signature:
                self._restarted(w, signature, sig, t0, observed)
                signature = sig
            else:
                done, unconfirmed = self._step(w, seen, started, phase)
                if done:
                    break
            if self._window_over(w, opened, seen):
                if w.limit_waits and w.since is None and seen.holds:
                    unconfirmed = self._limit_words("recovery")
                break
            interval = self.poll_interval if w.since is None else max(
                self.poll_interval, HOLD_PROBE_S
            )
            self.sleep(max(MIN_GAP_S, interval - (self.now() - started)))
        return self._verification(w, t0, phase, observed, unconfirmed)

    def _step(self, w: _Window, seen: Observation, t: float, phase: str) -> tuple[bool, str]:
        """Account one probe; (the hold is complete, what the rate limit left unconfirmed)."""
        if seen.holds and not seen.generate_checked:
            w.limit_waits += 1
            if w.since is not None and t - w.since >= self.hold_s + WINDOW_S:
                return True, self._limit_words("the end of the hold")
            return False, ""
        if w.since is None:
            w.informative.append(t)
        if seen.holds:
            w.quiet = None
            if w.since is None:
                w.since = t
                w.ever_seen = t if w.ever_seen is None else w.ever_seen
                self.emit("recovery-seen", f"{self._phase}: {seen.observed}")
            elif t - w.since >= self.hold_s:
                return True, ""
            return False, ""
        if w.since is not None:
            w.lost = f"after {t - w.since:.1f}s ({seen.observed})"
        w.since = None
        failure = failure_signature(seen.observed)
        if w.quiet is None or w.quiet[1] != failure:
            w.quiet = (t, failure)
        elif t - w.quiet[0] >= QUIESCENT_S:
            w.ended_early = settled(self.stack, self.fault)
            if w.ended_early:
                self.emit("verify-ended", f"{self._phase}: {w.ended_early}")
                return True, ""
            w.quiet = (t, failure)
        return False, ""

    def _restarted(
        self,
        w: _Window,
        before: dict[str, tuple[int, bool]],
        after: dict[str, tuple[int, bool]],
        t0: float,
        observed: str,
    ) -> None:
        changed = [name for name in after if after[name] != before.get(name)]
        for name in changed:
            w.restarts.setdefault(name, []).append(self.now() - t0)
        if w.since is not None:
            w.lost = (
                f"after {self.now() - w.since:.1f}s ({', '.join(changed)} restarted or was "
                f"killed; last probe: {observed})"
            )
        w.since, w.quiet = None, None

    def _window_over(self, w: _Window, opened: float, seen: Observation) -> bool:
        """A stretch that started inside the window may finish its hold after it; while the
        service passes every check but the rate-limited one, the window waits for the budget,
        at most one rate-limit window past its end."""
        if w.since is not None:
            return False
        end = opened + self.window_s
        if seen.holds and not seen.generate_checked:
            end += WINDOW_S
        return self.now() >= end

    def _limit_words(self, what: str) -> str:
        rate = self.prober.budget.rate
        limit = self.prober.budget.limit
        return (
            f"the generate round trip at {what}: the API's rate limit "
            f"({limit or 'undeclared'}/min for the gameday's probe) left no request for it "
            f"({rate.held_back} held back, {rate.throttled} throttled)"
        )

    def _verification(
        self, w: _Window, t0: float, phase: str, observed: str, unconfirmed: str
    ) -> Verification:
        self.resolution_s = self._precision(w)
        disturbances = [
            f"{name} restarted or was killed {len(ts)}× (first at t0+{ts[0]:.1f}s)"
            for name, ts in w.restarts.items()
        ]
        v = Verification(held=w.since is not None, observed=observed, disturbances=disturbances)
        v.ever_seen_s = None if w.ever_seen is None else w.ever_seen - t0
        v.lost = "" if v.held else w.lost
        v.unconfirmed = unconfirmed
        v.ended_early = w.ended_early
        if w.since is not None:
            v.first_seen_s, v.confirmed_s = w.since - t0, self.now() - t0
            self.emit("held", f"{phase}: steady state held {self.hold_s:.0f}s: {observed}")
        v.fault_checked, v.fault_present = self._fault_check()
        self.emit("fault-check", v.fault_present or "the fault is gone")
        return v

    @staticmethod
    def _precision(w: _Window) -> float | None:
        """How precisely TTR is known: recovery happened between the last probe that could
        have seen it and did not, and the probe that saw it. Probes whose generate round trip
        the rate limit held back could not have seen it, so a tight limit widens this."""
        if w.ever_seen is None:
            return None
        before = [t for t in w.informative if t < w.ever_seen]
        return round(w.ever_seen - before[-1], 4) if before else None

    def _fault_check(self) -> tuple[bool, str | None]:
        try:
            return True, self.fault.still_in_effect(self.stack)
        except NotImplementedError:
            return False, None
        except Exception as exc:  # noqa: BLE001 - a check that cannot answer proves nothing
            return True, f"the fault check could not answer: {type(exc).__name__}: {exc}"
