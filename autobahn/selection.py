"""Which Autobahn cases to run: exact ids resolved here, never kosoku's prefix globs.

kosoku treats any pattern containing ``*`` as a prefix (``12.*.1`` would also
select 12.x.10-12.x.18), so patterns are expanded against the case index and
kosoku only ever receives exact ids. The expanded list is also the expected
set of results: a case missing from the results is a failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from kosoku.cases import CASES

#: Every case id of the suite, in suite order (517 with kosoku 0.1.0).
ALL_CASES: tuple[str, ...] = tuple(CASES)

#: The sections of the suite, in report order (there is no section 8 or 11).
SECTIONS: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13")

#: ``--quick``: the protocol sections without the 216 slow deflate cases.
QUICK_SECTIONS = frozenset(("1", "2", "3", "4", "5", "6", "7", "9", "10"))


def section(case_id: str) -> str:
    return case_id.split(".", 1)[0]


def matches(pattern: str, case_id: str) -> bool:
    """Component-wise match: ``*`` is one component, a trailing ``*`` the rest.

    ``6.4.*`` matches 6.4.1 and 6.4.4; ``12.*.1`` matches 12.2.1, not 12.2.10;
    ``*`` matches everything; an id without ``*`` matches only itself.
    """
    want = pattern.strip().split(".")
    have = case_id.split(".")
    if want[-1] == "*":
        want = want[:-1]
        if len(have) <= len(want):
            return False
        have = have[: len(want)]
    elif len(have) != len(want):
        return False
    return all(fnmatchcase(h, w) for h, w in zip(have, want))


def select(
    include: Sequence[str] = (), exclude: Sequence[str] = (), quick: bool = False
) -> list[str]:
    """The exact case ids to run, in suite order.

    Raises ValueError for a pattern that selects nothing (a typo would
    otherwise quietly shrink the run).
    """
    for pattern in (*include, *exclude):
        if not any(matches(pattern, case_id) for case_id in ALL_CASES):
            raise ValueError(f"pattern {pattern!r} matches no case")
    chosen: Iterable[str] = ALL_CASES
    if quick:
        chosen = [c for c in chosen if section(c) in QUICK_SECTIONS]
    if include:
        chosen = [c for c in chosen if any(matches(p, c) for p in include)]
    return [c for c in chosen if not any(matches(p, c) for p in exclude)]
