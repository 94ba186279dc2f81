"""The detect phase: every detection step polled on its own clock until one leaves its
healthy baseline (its exit status differs from the one it had on the healthy stack).

One thread a step, so a short-lived symptom (an API down between two OOM kills) is seen
whichever step would see it: a slow step (`docker stats`) never delays a fast one (`curl -f`).
The window is the scenario's, whole: the SEV budget never shortens it (a detection after the
budget is late, not missed).
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness.bridge.shell import OperatorShell, Outcome, PollingTerminal
from harness.result import StepRun
from harness.runbook.model import Step

MIN_GAP_S = 0.02  # between two runs of a step, so a slow step never spins on the CPU
StepRecorder = Callable[[str, Step, Outcome, float, int | None], StepRun]


@dataclass
class Detection:
    detected_by: StepRun | None  # the first run that left its baseline
    runs: list[StepRun]  # each step's last run, in runbook order
    polls: int  # step runs in all
    resolution_s: float | None  # median gap between two starts of the same step


def poll_detection(
    shell: OperatorShell,
    steps: list[Step],
    baseline: dict[int, int | None],
    *,
    now: Callable[[], float],
    record: StepRecorder,
    opened: float,
    window_s: float,
    poll_interval: float,
) -> Detection:
    """Poll `steps` from `opened` for `window_s` (> 0) on the gameday clock `now`."""
    if window_s <= 0:
        raise ValueError(f"detection window must be positive, not {window_s}")
    found = threading.Event()
    lock = threading.Lock()
    last: dict[int, StepRun] = {}
    firsts: list[StepRun] = []
    gaps: list[float] = []  # between two starts of the same step: TTD's resolution
    polls = 0

    def poll(step: Step) -> None:
        with shell.terminal() as terminal:  # one bash forking a run every 100 ms
            poll_with(step, terminal)

    def poll_with(step: Step, terminal: PollingTerminal) -> None:
        nonlocal polls
        while not found.is_set() and now() - opened < window_s:
            start = now()
            outcome = terminal.run(step)
            run = record("detect", step, outcome, start, baseline[step.line])
            with lock:
                polls += 1
                if found.is_set():  # another step already detected: not a finding
                    return
                if step.line in last:
                    gaps.append(run.started - last[step.line].started)
                last[step.line] = run
                if outcome.exit_code != baseline[step.line]:
                    run.detected = True
                    firsts.append(run)
                    found.set()
                    return
            # The step's own run counts toward the interval: re-run within poll_interval
            # of the last start whenever the step itself is faster than that.
            found.wait(max(MIN_GAP_S, poll_interval - (now() - start)))

    if steps:
        with ThreadPoolExecutor(max_workers=min(len(steps), 8)) as pool:
            list(pool.map(poll, steps))
    order = {s.line: i for i, s in enumerate(steps)}
    runs = sorted(last.values(), key=lambda r: order[r.line])
    gap = round(statistics.median(gaps), 4) if gaps else None
    return Detection(firsts[0] if firsts else None, runs, polls, gap)
