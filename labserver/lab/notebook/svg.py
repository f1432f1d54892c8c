"""Real pictures for the notebooks, as SVG drawn by our own code.

Two kinds: the post's architecture (you → API server → etcd, the watch down
to the kubelet, the runtime, the status coming back), with the piece a
notebook adds highlighted; and sequence diagrams of recorded steps. They are
SVG text written here, not made by a plotting library, so the same input gives
the same bytes: nbval compares an `image/svg+xml` output like any text (after
notebooks/sanitize.cfg). An SVG output renders in JupyterLab, is embedded in
the HTML nbconvert writes (`make walkthrough`), and is shown as an image by
code hosts' notebook viewers. The layout is fixed (no text measuring), so a
label that changes between runs never moves anything else.
"""
from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from .diagram import Message

FONT = "font-family='Helvetica, Arial, sans-serif'"
PLAIN = ("#f8fafc", "#64748b", 1.5)     # fill, stroke, stroke width
LIT = ("#fef3c7", "#d97706", 3.5)


@dataclass(frozen=True)
class Box:
    label: str
    detail: str
    x: int
    y: int
    w: int = 170
    h: int = 64


# The post's cluster, one box per piece. Keys are what `highlight` takes.
BOXES = {
    "you": Box("you", "curl · kubectl", 20, 60),
    "apiserver": Box("API server", "the only door to etcd", 350, 60),
    "etcd": Box("etcd", "every object, revisioned", 680, 60),
    "kubelet": Box("kubelet", "one per node", 350, 260),
    "runtime": Box("runtime", "Docker, or processes", 680, 260),
}
WIDTH, HEIGHT = 870, 380
ALIASES = {"kubectl": "you", "curl": "you", "api": "apiserver", "api server": "apiserver",
           "docker": "runtime", "pod": "runtime", "pods": "runtime"}


def _arrows() -> list[tuple[str, str, str, str, tuple[int, int, str]]]:
    """(from, to, label, SVG path, label position): numbered in the post's order."""
    you, api, etcd, kubelet, runtime = (BOXES[k] for k in ("you", "apiserver", "etcd", "kubelet", "runtime"))
    hi, lo = api.y + 22, api.y + 50          # the two lanes of a horizontal pair of arrows
    left, right = api.x + 60, api.x + api.w - 60
    return [
        ("you", "apiserver", "1  POST the pod", f"M{you.x + you.w},{hi} L{api.x},{hi}",
         ((you.x + you.w + api.x) // 2, hi - 8, "middle")),
        ("apiserver", "etcd", "2  txn: store it", f"M{api.x + api.w},{hi} L{etcd.x},{hi}",
         ((api.x + api.w + etcd.x) // 2, hi - 8, "middle")),
        ("etcd", "apiserver", "3  watch event", f"M{etcd.x},{lo} L{api.x + api.w},{lo}",
         ((api.x + api.w + etcd.x) // 2, lo + 18, "middle")),
        ("apiserver", "kubelet", "4  watch: pods on my node", f"M{left},{api.y + api.h} L{left},{kubelet.y}",
         (left - 8, (api.y + api.h + kubelet.y) // 2, "end")),
        ("kubelet", "runtime", "5  start containers", f"M{kubelet.x + kubelet.w},{kubelet.y + 22} L{runtime.x},"
         f"{kubelet.y + 22}", ((kubelet.x + kubelet.w + runtime.x) // 2, kubelet.y + 14, "middle")),
        ("runtime", "kubelet", "container states", f"M{runtime.x},{kubelet.y + 50} L{kubelet.x + kubelet.w},"
         f"{kubelet.y + 50}", ((kubelet.x + kubelet.w + runtime.x) // 2, kubelet.y + 68, "middle")),
        ("kubelet", "apiserver", "6  PATCH status, renew Lease", f"M{right},{kubelet.y} L{right},{api.y + api.h}",
         (right + 8, (api.y + api.h + kubelet.y) // 2, "start")),
        ("apiserver", "you", "7  get / watch: Running", f"M{api.x},{lo} L{you.x + you.w},{lo}",
         ((you.x + you.w + api.x) // 2, lo + 18, "middle")),
    ]


class Picture:
    """An SVG picture: Jupyter shows the SVG; its text form names what it shows."""

    def __init__(self, svg: str, text: str):
        self.svg, self.text = svg, text

    def _repr_svg_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return self.text


def _lit(keys) -> set[str]:
    if keys is None:
        return set()
    keys = [keys] if isinstance(keys, str) else list(keys)
    found = set()
    for key in keys:
        name = ALIASES.get(key.lower(), key.lower())
        if name not in BOXES:
            raise ValueError(f"unknown component {key!r}: choose from {', '.join(BOXES)}")
        found.add(name)
    return found


def _defs() -> str:
    return ("<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='8' markerHeight='8' "
            "orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='#334155'/></marker></defs>")


def architecture(highlight=None, caption: str | None = None) -> Picture:
    """The post's cluster as one picture; `highlight` names the piece(s) to light up."""
    lit = _lit(highlight)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' "
           f"viewBox='0 0 {WIDTH} {HEIGHT}' {FONT}>", _defs(), f"<rect width='{WIDTH}' height='{HEIGHT}' fill='white'/>"]
    if caption:
        out.append(f"<text x='20' y='30' font-size='16' font-weight='bold' fill='#0f172a'>{escape(caption)}</text>")
    node = (BOXES["kubelet"].x - 15, BOXES["kubelet"].y - 25)
    out.append(f"<rect x='{node[0]}' y='{node[1]}' width='{WIDTH - 5 - node[0]}' height='{HEIGHT - 8 - node[1]}' "
               f"rx='10' fill='none' stroke='#94a3b8' stroke-dasharray='6 4'/><text x='{WIDTH - 15}' "
               f"y='{node[1] + 16}' font-size='12' fill='#64748b' text-anchor='end'>the node</text>")
    for key, b in BOXES.items():
        fill, stroke, width = LIT if key in lit else PLAIN
        out.append(f"<g id='{key}'><rect x='{b.x}' y='{b.y}' width='{b.w}' height='{b.h}' rx='8' fill='{fill}' "
                   f"stroke='{stroke}' stroke-width='{width}'/>"
                   f"<text x='{b.x + b.w // 2}' y='{b.y + 28}' font-size='17' font-weight='bold' "
                   f"text-anchor='middle' fill='#0f172a'>{escape(b.label)}</text>"
                   f"<text x='{b.x + b.w // 2}' y='{b.y + 48}' font-size='12' text-anchor='middle' "
                   f"fill='#475569'>{escape(b.detail)}</text></g>")
    for src, dst, label, path, (x, y, anchor) in _arrows():
        colour = "#b45309" if lit & {src, dst} else "#334155"
        out.append(f"<path d='{path}' stroke='{colour}' stroke-width='2' fill='none' marker-end='url(#arrow)'/>"
                   f"<text x='{x}' y='{y}' font-size='12' text-anchor='{anchor}' fill='{colour}'>"
                   f"{escape(label)}</text>")
    out.append("</svg>")
    shown = ", ".join(k for k in BOXES if k in lit) or "nothing"
    return Picture("".join(out), f"<architecture picture: you → API server → etcd → watch → kubelet → runtime → "
                                 f"status back; highlighted: {shown}>")


def sequence(participants: list[str], messages: list[Message], title: str = "",
             notes: dict[int, str] | None = None) -> Picture:
    """A sequence diagram: one lifeline per participant, one numbered arrow per message, top to bottom.

    `notes` puts a grey line of text under message i (0-based), e.g. when it happened.
    """
    notes = notes or {}
    gap, top, row = 175, 70 if title else 40, 46
    xs = {p: 90 + i * gap for i, p in enumerate(participants)}
    width = 90 * 2 + gap * (len(participants) - 1)
    height = top + 40 + row * len(messages) + 30
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}' {FONT}>", _defs(), f"<rect width='{width}' height='{height}' fill='white'/>"]
    if title:
        out.append(f"<text x='16' y='28' font-size='15' font-weight='bold' fill='#0f172a'>{escape(title)}</text>")
    for p, x in xs.items():
        out.append(f"<line x1='{x}' y1='{top + 30}' x2='{x}' y2='{height - 10}' stroke='#94a3b8' "
                   f"stroke-dasharray='4 4'/><rect x='{x - 75}' y='{top}' width='150' height='30' rx='6' "
                   f"fill='#f1f5f9' stroke='#64748b'/><text x='{x}' y='{top + 20}' font-size='14' "
                   f"font-weight='bold' text-anchor='middle' fill='#0f172a'>{escape(p)}</text>")
    for i, m in enumerate(messages):
        y = top + 30 + row * (i + 1)
        a, b = xs[m.src], xs[m.dst]
        end = b - 4 if b > a else b + 4
        mid, anchor = (a + b) // 2, "middle"
        out.append(f"<path d='M{a},{y} L{end},{y}' stroke='#334155' stroke-width='1.8' fill='none' "
                   f"marker-end='url(#arrow)'/><text x='{mid}' y='{y - 7}' font-size='12' "
                   f"text-anchor='{anchor}' fill='#0f172a'>{i + 1}. {escape(m.label)}</text>")
        if i in notes:
            out.append(f"<text x='{mid}' y='{y + 15}' font-size='11' text-anchor='middle' "
                       f"fill='#64748b'>{escape(notes[i])}</text>")
    out.append("</svg>")
    lines = [f"<sequence picture: {title}>" if title else "<sequence picture>"]
    lines += [f"{i + 1}. {m.src} → {m.dst}: {m.label}" for i, m in enumerate(messages)]
    return Picture("".join(out), "\n".join(lines))
