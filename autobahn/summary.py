"""Verdicts, per-section tables and SUMMARY.md from an Autobahn ``index.json``.

Works on any Autobahn-format report directory (kosoku's or the official
Docker image's):

    python autobahn/summary.py autobahn/reports/servers

exits non-zero when the reports break the pass rule (see :func:`problems`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selection import ALL_CASES, SECTIONS, section

VERDICTS = ("OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED")
_PASSING_BEHAVIORS = ("OK", "NON-STRICT", "INFORMATIONAL")
_PASSING_CLOSES = ("OK", "INFORMATIONAL")

Entry = Mapping[str, Any]  # one case of index.json


def verdict(entry: Entry) -> str:
    """One word per case. A bad closing handshake (UNCLEAN, WRONG CODE,
    FAILED BY CLIENT) fails the case even when the messages were right, as
    kosoku's ``passed`` does; ERROR and NO CLOSE count as FAILED."""
    behavior = entry["behavior"]
    if behavior == "UNIMPLEMENTED":
        return "UNIMPLEMENTED"
    if behavior not in _PASSING_BEHAVIORS or entry["behaviorClose"] not in _PASSING_CLOSES:
        return "FAILED"
    return str(behavior)


def _case_key(case_id: str) -> list[int]:
    return [int(part) for part in case_id.split(".")]


@dataclass
class Summary:
    """The results of one side against the cases that were expected."""

    expected: Sequence[str]
    entries: Mapping[str, Entry]  # case id -> index.json entry
    details: dict[str, Entry] = field(default_factory=dict)  # per-case reports, for problems

    @property
    def missing(self) -> list[str]:
        return [c for c in self.expected if c not in self.entries]

    def verdicts(self) -> dict[str, str]:
        return {case_id: verdict(e) for case_id, e in self.entries.items()}

    def problems(self) -> list[tuple[str, str]]:
        """(case id, why) for everything that fails our pass rule: FAILED,
        UNIMPLEMENTED, missing, and NON-STRICT in 6.4.x (the core validates
        UTF-8 as bytes arrive, so it must fail fast there)."""
        found = [(c, "MISSING") for c in self.missing]
        for case_id, word in self.verdicts().items():
            if word in ("FAILED", "UNIMPLEMENTED"):
                found.append((case_id, word))
            elif word == "NON-STRICT" and case_id.startswith("6.4."):
                found.append((case_id, "NON-STRICT in 6.4.x"))
        return sorted(found, key=lambda item: _case_key(item[0]))

    def non_strict_elsewhere(self) -> list[str]:
        """NON-STRICT cases outside 6.4.x: allowed, but each needs a reason."""
        return sorted(
            (c for c, w in self.verdicts().items() if w == "NON-STRICT" and not c.startswith("6.4.")),
            key=_case_key,
        )

    def slowest(self, n: int = 10) -> list[tuple[str, int]]:
        timed = [(c, int(e.get("duration") or 0)) for c, e in self.entries.items()]
        return sorted(timed, key=lambda item: (-item[1], _case_key(item[0])))[:n]

    def durations(self, prefix: str) -> list[tuple[str, int]]:
        """(case, ms) of the cases under ``prefix`` (e.g. "9." for the performance cases)."""
        picked = [(c, int(e.get("duration") or 0)) for c, e in self.entries.items() if c.startswith(prefix)]
        return sorted(picked, key=lambda item: _case_key(item[0]))

    def table(self) -> str:
        """A Markdown table: one row per section, then the total."""
        head = ["Section", "Cases", *VERDICTS, "MISSING", "Time (s)"]
        rows = [head, ["---"] * len(head)]
        verdicts = self.verdicts()
        totals = [0] * (len(head) - 2)
        total_ms = 0
        for name in SECTIONS:
            ids = [c for c in self.expected if section(c) == name]
            ids += [c for c in self.entries if section(c) == name and c not in ids]
            if not ids:
                continue
            counts = [sum(1 for c in ids if verdicts.get(c) == v) for v in VERDICTS]
            counts.append(sum(1 for c in ids if c not in self.entries))
            ms = sum(int(self.entries[c].get("duration") or 0) for c in ids if c in self.entries)
            totals = [t + n for t, n in zip(totals, [len(ids), *counts])]
            total_ms += ms
            rows.append([name, str(len(ids)), *map(str, counts), f"{ms / 1000:.1f}"])
        rows.append(["**all**", *map(str, totals), f"{total_ms / 1000:.1f}"])
        return "\n".join("| " + " | ".join(row) + " |" for row in rows)

    def problem_lines(self) -> list[str]:
        """One line per problem with what the runner saw, for a diagnosis."""
        lines = []
        for case_id, why in self.problems():
            entry, detail = self.entries.get(case_id, {}), self.details.get(case_id, {})
            seen = ""
            if entry:
                seen = (
                    f" behavior={entry['behavior']} close={entry['behaviorClose']}"
                    f" remoteCloseCode={detail.get('remoteCloseCode', entry.get('remoteCloseCode'))}"
                    f" remoteCloseReason={detail.get('remoteCloseReason')!r}"
                )
            text = detail.get("description", "")
            lines.append(f"- {case_id}: {why}{seen}" + (f" -- {text}" if text else ""))
        return lines

    def markdown(self, title: str, meta: Mapping[str, str]) -> str:
        out = [f"# {title}", ""]
        out += [f"- {key}: {value}" for key, value in meta.items()]
        out += ["", self.table(), "", "## Slowest cases", "", "| Case | ms |", "| --- | --- |"]
        out += [f"| {c} | {ms} |" for c, ms in self.slowest()]
        perf = self.durations("9.")
        if perf:
            out += ["", "## Performance cases (9.x), ms", "", ", ".join(f"{c}: {ms}" for c, ms in perf)]
        problems = self.problem_lines()
        out += ["", "## Failures", ""] + (problems or ["None."])
        lenient = self.non_strict_elsewhere()
        if lenient:
            out += ["", "## NON-STRICT outside 6.4.x (allowed, explain each)", "", ", ".join(lenient)]
        return "\n".join(out) + "\n"


def load(report_dir: Path, expected: Sequence[str]) -> Summary:
    """Read ``index.json`` (one agent) and the per-case reports of its problem cases."""
    index = json.loads((report_dir / "index.json").read_text())
    if len(index) > 1:
        raise ValueError(f"{report_dir}/index.json: expected one agent, found {sorted(index)}")
    entries: Mapping[str, Entry] = next(iter(index.values()), {})
    summary = Summary(expected=list(expected), entries=entries)
    for case_id, _ in summary.problems():
        report = report_dir / str(entries.get(case_id, {}).get("reportfile", ""))
        if case_id in entries and report.is_file():
            summary.details[case_id] = json.loads(report.read_text())
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description="Summarize an Autobahn report directory.")
    parser.add_argument("report_dir", type=Path, help="the directory holding index.json")
    args = parser.parse_args()
    summary = load(args.report_dir, ALL_CASES)
    print(summary.table())
    print("\n".join(summary.problem_lines()))
    sys.exit(1 if summary.problems() else 0)


if __name__ == "__main__":
    main()
