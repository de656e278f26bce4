"""The conformance runner's own logic: case selection and the pass rule."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("kosoku")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "autobahn"))

import selection  # noqa: E402
from summary import Summary, verdict  # noqa: E402


class TestMatches:
    def test_exact_id_matches_only_itself(self) -> None:
        assert selection.matches("12.1.1", "12.1.1")
        assert not selection.matches("12.1.1", "12.1.10")
        assert not selection.matches("1.1", "1.1.1")

    def test_star_is_one_component_not_a_prefix(self) -> None:
        # kosoku would select 12.2.10-12.2.18 for this pattern too.
        assert selection.matches("12.*.1", "12.2.1")
        assert not selection.matches("12.*.1", "12.2.10")

    def test_trailing_star_matches_the_rest(self) -> None:
        assert selection.matches("6.4.*", "6.4.4")
        assert selection.matches("9.*", "9.1.6")
        assert not selection.matches("9.*", "9")
        assert not selection.matches("1.*", "10.1.1")
        assert selection.matches("*", "13.7.18")


class TestSelect:
    def test_full_suite(self) -> None:
        assert len(selection.ALL_CASES) == 517
        assert selection.select() == list(selection.ALL_CASES)

    def test_quick_leaves_out_the_deflate_sections(self) -> None:
        quick = selection.select(quick=True)
        assert len(quick) == 301
        assert not [c for c in quick if c.split(".")[0] in ("12", "13")]

    def test_include_exclude_keep_suite_order(self) -> None:
        chosen = selection.select(["7.1.*", "2.1"], ["7.1.3"])
        assert chosen == ["2.1", "7.1.1", "7.1.2", "7.1.4", "7.1.5", "7.1.6"]

    def test_pattern_that_selects_nothing_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="8.1"):
            selection.select(["8.1"])


def entry(behavior: str, close: str = "OK") -> dict[str, object]:
    return {"behavior": behavior, "behaviorClose": close, "duration": 1, "remoteCloseCode": 1000}


class TestPassRule:
    def test_a_bad_close_fails_a_case_with_right_messages(self) -> None:
        assert verdict(entry("OK", "WRONG CODE")) == "FAILED"
        assert verdict(entry("OK", "UNCLEAN")) == "FAILED"
        assert verdict(entry("OK", "FAILED BY CLIENT")) == "FAILED"
        assert verdict(entry("INFORMATIONAL", "INFORMATIONAL")) == "INFORMATIONAL"
        assert verdict(entry("NO CLOSE")) == "FAILED"
        assert verdict(entry("UNIMPLEMENTED", "UNIMPLEMENTED")) == "UNIMPLEMENTED"

    def test_problems(self) -> None:
        expected = ["1.1.1", "5.1", "6.4.1", "6.2.1", "12.1.1", "13.2.1"]
        summary = Summary(expected, {
            "1.1.1": entry("OK"),
            "5.1": entry("FAILED"),
            "6.4.1": entry("NON-STRICT"),  # the core must fail fast on bad UTF-8
            "6.2.1": entry("NON-STRICT"),  # allowed outside 6.4.x
            "13.2.1": entry("UNIMPLEMENTED"),
        })
        assert summary.problems() == [
            ("5.1", "FAILED"), ("6.4.1", "NON-STRICT in 6.4.x"),
            ("12.1.1", "MISSING"), ("13.2.1", "UNIMPLEMENTED"),
        ]
        assert summary.non_strict_elsewhere() == ["6.2.1"]

    def test_table_counts_per_section(self) -> None:
        summary = Summary(["1.1.1", "1.1.2", "7.1.1"], {"1.1.1": entry("OK"), "7.1.1": entry("FAILED")})
        rows = summary.table().splitlines()
        assert rows[2] == "| 1 | 2 | 1 | 0 | 0 | 0 | 0 | 1 | 0.0 |"
        assert rows[3] == "| 7 | 1 | 0 | 0 | 0 | 1 | 0 | 0 | 0.0 |"
        assert rows[-1] == "| **all** | 3 | 1 | 0 | 0 | 1 | 0 | 1 | 0.0 |"
