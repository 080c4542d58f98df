"""Tables that fit the terminal: laid out when printed, at the console's width. Dotted figure names are grouped
under the prefix they share (printed once, as a section heading); long words fold instead of being cut to '…';
value columns that do not fit side by side go to further tables that repeat the row labels."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

BORDER = 3  # a column's share of a boxed table's rules and padding: "│ x " (plus one for the last rule)
INDENT = "  "  # before a label under its section heading
HEADER_WIDTH = 15  # a value column's header folds beyond this many characters
BREAK = re.compile(r"(?<=[.\-_=])")  # where a long name may be broken: after . - _ =
FIELD = re.compile(r"(?<!\S)((?:[\w-]+\.)+)([\w-]+)=")  # `a.b.c=` in a `--vary` label


def sectioned(keys: Sequence[str]) -> list[tuple[str, str | None]]:
    """(label, key) lines for dotted `keys`, grouped by the prefix before their last dot (groups in order of
    first appearance): a heading (key None) per prefix, then each key's last part indented under it; keys without
    a dot stay whole."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(key.rpartition(".")[0], []).append(key)
    lines: list[tuple[str, str | None]] = []
    for prefix, members in groups.items():
        if prefix:
            lines.append((prefix, None))
        lines += [(INDENT + key.rpartition(".")[2] if prefix else key, key) for key in members]
    return lines


def broken(text: str, width: int) -> str:
    """`text` with each word longer than `width` broken into lines after its . - _ = (where it has them)."""
    words = []
    for word in text.split(" "):
        line, lines = "", []
        for piece in BREAK.split(word) if len(word) > width else [word]:
            if line and len(line) + len(piece) > width:
                lines.append(line)
                line = ""
            line += piece
        words.append("\n".join([*lines, line]))
    return " ".join(words)


def short_fields(labels: Sequence[str]) -> tuple[list[str], str]:
    """Run labels with each `a.b.field=` written `field=`, and a caption naming the full paths, where no two
    paths share their last part; else the labels as they are and no caption."""
    paths = dict.fromkeys(m.group(1) + m.group(2) for label in labels for m in FIELD.finditer(label))
    lasts = {path.rpartition(".")[2] for path in paths}
    if not paths or len(lasts) < len(paths):
        return list(labels), ""
    return [FIELD.sub(r"\2=", label) for label in labels], "fields: " + ", ".join(paths)


def _widths(texts: Sequence[str]) -> tuple[int, int]:
    """The narrowest width that keeps every word of `texts` whole, and the widest line."""
    words = [len(word) for text in texts for word in text.split()] or [0]
    lines = [len(line) for text in texts for line in text.splitlines()] or [0]
    return max(words), max(lines)


def _fill(extents: list[tuple[int, int]], room: int) -> list[int]:
    """Column widths: each at least its narrow width, then widened a character at a time, in turn, towards its
    widest line while `room` lasts."""
    widths = [narrow for narrow, _ in extents]
    spare = room - sum(widths)
    while spare > 0 and any(w < wide for w, (_, wide) in zip(widths, extents, strict=True)):
        for index, (_, wide) in enumerate(extents):
            if spare > 0 and widths[index] < wide:
                widths[index] += 1
                spare -= 1
    return widths


@dataclass
class FittedTable:
    """A label column and value columns; printed as one table where the console is wide enough, else as several
    that split the value columns and repeat the labels. With `sections`, row labels are dotted names, printed
    under their shared prefixes (`sectioned`)."""

    title: str
    label_header: str
    headers: list[str]
    rows: list[tuple[str, list[str]]]
    sections: bool = False
    caption: str = ""
    left: set[int] = field(default_factory=set)  # value columns justified left (text rather than numbers)

    def _lines(self) -> list[tuple[str, list[str] | None]]:
        """(label, cells) per printed row; cells None for a section heading."""
        if not self.sections:
            return [(label, cells) for label, cells in self.rows]
        cells = dict(self.rows)
        return [(label, None if key is None else cells[key]) for label, key in sectioned([k for k, _ in self.rows])]

    def _extents(self) -> list[tuple[int, int]]:
        """Per value column: the width that keeps its words whole (a header folds beyond HEADER_WIDTH) and the
        width of its widest line."""
        extents = []
        for index, header in enumerate(self.headers):
            narrow, wide = _widths([row[1][index] for row in self.rows])
            head_narrow, head_wide = _widths([broken(header, HEADER_WIDTH)])
            extents.append((max(narrow, min(head_narrow, HEADER_WIDTH)), max(wide, head_wide)))
        return extents

    def _chunks(self, room: int, extents: list[tuple[int, int]]) -> Iterator[list[int]]:
        """Value columns per table: as many as fit in `room` with every word whole (at least one)."""
        chunk: list[int] = []
        used = 0
        for index, (narrow, _) in enumerate(extents):
            if chunk and used + narrow + BORDER > room:
                yield chunk
                chunk, used = [], 0
            chunk.append(index)
            used += narrow + BORDER
        if chunk:
            yield chunk

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        lines = self._lines()
        labels = [label for label, cells in lines if cells is not None] + [self.label_header]
        label_width = min(_widths(labels)[1], max(12, width // 3))
        room = width - label_width - BORDER - 1
        extents = self._extents()
        chunks = list(self._chunks(room, extents))
        for number, chunk in enumerate(chunks):
            part = f" ({number + 1} of {len(chunks)})" if len(chunks) > 1 else ""
            table = Table(title=self.title + part, caption=self.caption or None)
            table.add_column(self.label_header, style="bold", overflow="fold", width=label_width)
            for index, column_width in zip(chunk, _fill([extents[i] for i in chunk], room - BORDER * len(chunk)),
                                           strict=True):
                table.add_column(broken(self.headers[index], HEADER_WIDTH), width=column_width,
                                 justify="left" if index in self.left else "right", overflow="fold")
            for label, cells in lines:
                if cells is None:
                    table.add_row(Text(broken(label, label_width), style="italic"), *("" for _ in chunk))
                else:
                    table.add_row(label, *(cells[index] for index in chunk))
            yield table


def fitted(table: Table) -> FittedTable:
    """A built rich table of plain-text cells, its first column labelling the rows, to be laid out to fit."""
    first, *rest = table.columns
    cells = [[str(cell) for cell in column.cells] for column in rest]
    rows = [(str(label), [column[i] for column in cells]) for i, label in enumerate(first.cells)]
    return FittedTable(str(table.title or ""), str(first.header), [str(column.header) for column in rest], rows,
                       left={i for i, column in enumerate(rest) if column.justify == "left"})
