"""Hostile scenario files for the fuzz benchmark (bench_fuzz.py) and its sample in the tests: each class of
input that has crashed a YAML loader or a validator somewhere, and type, unit, enum and range mutations of
every shipped scenario at every place. `hostile_files(count, seed)` yields (class, name, bytes)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (ROOT / "scenarios").rglob("*.yaml"))
Maker = Callable[[np.random.Generator], tuple[str, bytes]]


def _shipped(rng: np.random.Generator) -> tuple[Path, str]:
    path = SHIPPED[int(rng.integers(len(SHIPPED)))]
    return path, path.read_text(encoding="utf-8")


def control(rng: np.random.Generator) -> tuple[str, bytes]:
    """A control character (C0, DEL or C1) somewhere in a shipped scenario."""
    path, text = _shipped(rng)
    char = chr(int(rng.choice([*range(0, 9), 11, 12, *range(14, 32), 127, *range(128, 160)])))
    at = int(rng.integers(len(text) + 1))
    return path.stem, (text[:at] + char + text[at:]).encode("utf-8")


def nesting(rng: np.random.Generator) -> tuple[str, bytes]:
    """Lists, mappings or block mappings nested tens to thousands deep."""
    depth = int(rng.choice([65, 100, 300, 1000, 3000, 20000]))
    form = int(rng.integers(3))
    if form == 0:
        body = "x: " + "[" * depth + "]" * depth + "\n"
    elif form == 1:
        body = "x: " + "{a: " * depth + "1" + "}" * depth + "\n"
    else:
        depth = min(depth, 2000)
        body = "".join(f"{' ' * i}k:\n" for i in range(depth)) + " " * depth + "v: 1\n"
    return f"nest-{depth}", body.encode()


def aliases(rng: np.random.Generator) -> tuple[str, bytes]:
    """Alias bombs (billion laughs, merge-key chains), loops, and many aliases."""
    form = int(rng.integers(5))
    if form == 0:
        width, depth = int(rng.integers(2, 12)), int(rng.integers(3, 12))
        body = f"a0: &a0 [{', '.join(['lol'] * width)}]\n" + "".join(
            f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]\n" for i in range(1, depth))
    elif form == 1:
        body = "x: &a [*a]\n" if rng.integers(2) else "x: &a {y: [1, {z: *a}]}\n"
    elif form == 2:
        body = "a: &a 1\nb: [" + ", ".join(["*a"] * int(rng.integers(900, 5000))) + "]\n"
    elif form == 3:
        depth = int(rng.integers(5, 30))
        body = "m0: &m0 {a: 1, b: 2}\n" + "".join(
            f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: {i}}}\n" for i in range(1, depth))
    else:
        body = "name: &n quickstart\ncluster: *undefined\n"
    return f"alias-{form}", body.encode()


def size(rng: np.random.Generator) -> tuple[str, bytes]:
    """Files over the size limit, one huge scalar, very many keys, a very long line."""
    form = int(rng.integers(4))
    if form == 0:
        return "huge", b"name: big\n" + b"# " + b"x" * (1 << 20) + b"\n"
    if form == 1:
        return "scalar", b"name: " + b"y" * 900_000 + b"\n"
    if form == 2:
        return "keys", ("".join(f"k{i}: {i}\n" for i in range(int(rng.integers(10_000, 60_000))))).encode()
    return "line", ("x: [" + ", ".join(str(i) for i in range(150_000)) + "]\n").encode()


def encoding(rng: np.random.Generator) -> tuple[str, bytes]:
    """Bytes that are not UTF-8, byte-order marks, UTF-16, CRLF and tab indentation, an empty file."""
    path, text = _shipped(rng)
    data = text.encode()
    form = int(rng.integers(7))
    if form == 0:
        at = int(rng.integers(len(data) + 1))
        return path.stem, data[:at] + bytes(rng.integers(128, 256, size=3).astype(np.uint8)) + data[at:]
    if form == 1:
        return path.stem, b"\xef\xbb\xbf" + data
    if form == 2:
        return path.stem, text.encode("utf-16")
    if form == 3:
        return path.stem, text.replace("\n", "\r\n").encode()
    if form == 4:
        return path.stem, text.replace("  ", "\t").encode()
    if form == 5:
        return "empty", b"" if rng.integers(2) else b"# only a comment\n"
    return path.stem, data[: int(rng.integers(len(data) + 1))]  # cut anywhere


def syntax(rng: np.random.Generator) -> tuple[str, bytes]:
    """Duplicate keys, several documents, Python and unknown tags, complex keys, values with line breaks."""
    path, text = _shipped(rng)
    forms = [
        text + "\n---\n" + text,
        text.replace("name:", "name: a\nname:", 1),
        "name: !!python/object/apply:os.system ['true']\n" + text,
        "name: !custom x\n" + text,
        "? [a, b]\n: c\n" + text,
        text.replace("name: ", 'name: "line\\nbreak\\u2028', 1).replace("\n", '"\n', 1),
        text + "\n{unclosed: [\n",
        text.replace(":", ": &x", 1) + "\ny: *x\n",
    ]
    return path.stem, forms[int(rng.integers(len(forms)))].encode()


def places(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path and list index of parsed YAML data."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += places(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += places(value, (*prefix, index))
    return found


REPLACEMENTS: dict[str, list[Any]] = {
    "type": [None, True, [], {}, [1, 2], {"a": 1}, "text", 3, 2.5, "", [[[]]]],
    "unit": ["5 parsecs", "1e400 s", "-3 GB", "NaN s", "inf W", "1e300 s", "10 GiB/s/s", "3 min 2 s", "1,2,3 B",
             "0x10 GB", "1e-400 s", "1e30 tokens", "99999999999999999999999 B"],
    "enum": ["nope", "TRAINING", "fat-tree", "bf17", "x" * 300, "kind", "ring_allreduce", "ÿ", "None"],
    "range": [0, -1, -1e300, 1e300, 10**30, 2**63, -(2**63), float("nan"), float("inf"), float("-inf"), 1e-300,
              0.5, 10**6, 4_000_000, 131_073],
}


def mutation(kind: str) -> Maker:
    """Replace the value at a random place of a shipped scenario by a value of this kind, or delete the key,
    or add an unknown one."""

    def make(rng: np.random.Generator) -> tuple[str, bytes]:
        path, text = _shipped(rng)
        data = yaml.safe_load(text)
        spots = places(data)
        for _ in range(int(rng.integers(1, 4))):
            place = spots[int(rng.integers(len(spots)))]
            parent = data
            for part in place[:-1]:
                parent = parent[part]
            roll = rng.random()
            if roll < 0.05 and isinstance(parent, dict):
                parent.pop(place[-1], None)
            elif roll < 0.1 and isinstance(parent, dict):
                parent["unknown_key"] = 1
            else:
                values = REPLACEMENTS[kind]
                parent[place[-1]] = copy.deepcopy(values[int(rng.integers(len(values)))])
            spots = places(data)
            if not spots:
                break
        dumped = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        return f"{path.stem}-{kind}", dumped.encode()

    return make


CLASSES: dict[str, Maker] = {
    "control": control, "nesting": nesting, "aliases": aliases, "size": size, "encoding": encoding,
    "syntax": syntax, "type": mutation("type"), "unit": mutation("unit"), "enum": mutation("enum"),
    "range": mutation("range"),
}
WEIGHTS = {"control": 1, "nesting": 0.5, "aliases": 1, "size": 0.2, "encoding": 1, "syntax": 1, "type": 2,
           "unit": 2, "enum": 1.5, "range": 2}


def hostile_files(count: int, seed: int = 0) -> Iterator[tuple[str, str, bytes]]:
    """`count` hostile files: (class, name, content), every class in turn by weight, reproducible by `seed`."""
    rng = np.random.default_rng(seed)
    names = list(CLASSES)
    weights = np.array([WEIGHTS[n] for n in names])
    for index in range(count):
        kind = names[index] if index < len(names) else names[int(rng.choice(len(names), p=weights / weights.sum()))]
        name, content = CLASSES[kind](rng)
        yield kind, f"{index:05d}-{name}", content
