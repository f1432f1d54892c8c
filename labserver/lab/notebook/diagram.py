"""Small text pictures drawn from what the lab recorded.

A sequence diagram shows who asked whom for what, in order; a timeline
shows how one object changed. Both are plain Unicode text, so they read the
same in Jupyter, on GitHub and in a terminal, and they are deterministic for
the same recorded steps (nbval compares them like any other output).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Message:
    """An arrow from one participant to another, with its label."""

    src: str
    dst: str
    label: str


def sequence(participants: list[str], messages: list[Message], min_gap: int = 16) -> str:
    """Draw participants as columns and each message as a labelled arrow.

    Each gap between two neighbouring columns is as wide as the longest label
    of an arrow between those two needs.
    """
    index = {name: i for i, name in enumerate(participants)}
    gaps = [min_gap] * (len(participants) - 1)
    for m in messages:
        lo = min(index[m.src], index[m.dst])
        if abs(index[m.src] - index[m.dst]) == 1:
            gaps[lo] = max(gaps[lo], len(m.label) + 4)
    x, pos = {}, 2
    for i, name in enumerate(participants):
        x[name] = pos
        pos += gaps[i] if i < len(gaps) else 0
    total = pos + 2

    def lifelines() -> list[str]:
        row = [" "] * total
        for pos in x.values():
            row[pos] = "│"
        return row

    heads = [" "] * (total + max(len(p) for p in participants))
    for name, pos in x.items():
        start = max(0, pos - len(name) // 2)
        heads[start:start + len(name)] = name
    lines = ["".join(heads).rstrip(), "".join(lifelines()).rstrip()]
    for m in messages:
        a, b = x[m.src], x[m.dst]
        lo, hi = min(a, b), max(a, b)
        label = lifelines()
        text = f" {m.label}"
        label[lo + 1:lo + 1 + len(text)] = text
        lines.append("".join(label).rstrip())
        arrow = lifelines()
        for i in range(lo + 1, hi):
            arrow[i] = "─" if arrow[i] == " " else "┼"
        if b > a:
            arrow[a], arrow[b - 1] = "├", "▶"
        else:
            arrow[a], arrow[b + 1] = "┤", "◀"
        lines.append("".join(arrow).rstrip())
    lines.append("".join(lifelines()).rstrip())
    return "\n".join(lines)


def timeline(rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> str:
    """A small aligned table, one row per step, with a rule under the headers."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def fmt(row) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()

    rule = "  ".join("─" * w for w in widths)
    return "\n".join([fmt(headers), rule, *(fmt(r) for r in rows)])
