"""What the machine did besides us during a run: the share of CPU time the
hypervisor gave to other guests (``steal``) and the busy share of all CPUs,
from Linux's /proc/stat. A shared VM can be slowed two- or threefold by its
neighbours with no trace in the load average; this puts the trace in the report."""

from __future__ import annotations

from typing import List, Optional

# /proc/stat "cpu" columns: user nice system idle iowait irq softirq steal ...
_IDLE, _IOWAIT, _STEAL = 3, 4, 7


def _counters() -> Optional[List[int]]:
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    return [int(value) for value in fields[1:]]


class CpuShare:
    """Counters at construction; ``describe()`` reports on the time since."""

    def __init__(self) -> None:
        self._start = _counters()

    def shares(self) -> Optional[tuple[float, float]]:
        """(steal, busy) as fractions of all CPU time since the start."""
        end = _counters()
        if self._start is None or end is None:
            return None
        delta = [b - a for a, b in zip(self._start, end)]
        total = sum(delta[:8])
        if total <= 0:
            return None
        idle = delta[_IDLE] + delta[_IOWAIT]
        return delta[_STEAL] / total, (total - idle - delta[_STEAL]) / total

    def describe(self) -> str:
        shares = self.shares()
        if shares is None:
            return "CPU steal: not measurable here"
        steal, busy = shares
        return (f"CPU time taken by the hypervisor for other guests (steal) during the run: "
                f"{steal:.0%}; all CPUs busy: {busy:.0%}")
