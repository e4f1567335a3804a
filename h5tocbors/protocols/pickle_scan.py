"""The opcodes of an untrusted pickle, walked once before anything is unpickled (`refusal`).

The unpickler hashes, in C, what a pickle makes a dict key or a set member: a tuple nested a
million deep crashed the process as it was hashed, and ints that are multiples of 2**61 - 1
hash alike, so that each insertion compared with all before it (36 s of CPU for 750 KB). The
walk follows what each opcode leaves on the stack and in the memo, enough to know which items
are str, and refuses a key or a member that is not one: contrast's and the xspress3 streamer's
pickles have str keys only (and no sets), whose hashes are randomized and cached. It refuses
ints of more than `MAX_INT_BITS` bits too (Python prints no int of over 4,300 digits), and
lengths beyond the data (pickletools checks them as it parses: the unpickler allocates what a
length declares before it reads).

Example:
    >>> refusal(b"\\x80\\x02}K\\x01K\\x02s.")
    'a dict key that is not a str (at byte 7)'
"""

from __future__ import annotations

import pickletools

MAX_INT_BITS = 4096
"""The largest int a pickle may hold, in bits (1,233 digits)."""

_OTHER, _STR, _MARK = 0, 1, 2
"""What the walk knows of a stack item: a str, a MARK, or anything else."""
_MAKES_STR = {
    "UNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "STRING",  # protocol 0 and 1 text, unpickled as str
    "BINSTRING",
    "SHORT_BINSTRING",
}
_INTS = {"INT", "LONG", "LONG1", "LONG4"}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}
_GETS = {"GET", "BINGET", "LONG_BINGET"}
_HASHED = {
    "SETITEM": (1, 2),
    "SETITEMS": (1, 2),
    "DICT": (0, 2),
    "ADDITEMS": (1, 1),
    "FROZENSET": (0, 1),
}
"""Opcodes that hash items they take: from which item, every second one (keys) or each one."""
_SPECIAL = _INTS | _PUTS | _GETS | _HASHED.keys() | {"DUP", "POP"}


def _effect(op: pickletools.OpcodeInfo) -> tuple[int, bool, list[int]]:
    """What `op` takes (items below a MARK, or all; whether it takes the MARK) and leaves."""
    before = op.stack_before
    marked = pickletools.markobject in before
    kind = _STR if op.name in _MAKES_STR else _MARK if op.name == "MARK" else _OTHER
    count = before.index(pickletools.markobject) if marked else len(before)
    return count, marked, [kind] * len(op.stack_after)


_EFFECTS = {op.name: _effect(op) for op in pickletools.opcodes}


def refusal(data: bytes) -> str | None:
    """Why the opcodes of `data` are refused, or None; time and memory linear in its size.

    Raises what `pickletools.genops` raises for bytes that are no pickle.
    """
    stack: list[int] = []
    marks: list[int] = []
    memo: dict[int, int] = {}
    for op, arg, pos in pickletools.genops(data):
        name = op.name
        count, marked, left = _EFFECTS[name]
        taken: list[int] = []
        if name in _SPECIAL:
            if name in _INTS and isinstance(arg, int) and abs(arg).bit_length() > MAX_INT_BITS:
                return f"an int of {abs(arg).bit_length()} bits, more than {MAX_INT_BITS}"
            if name in _PUTS:
                if not stack or stack[-1] == _MARK:
                    return f"not a valid pickle: nothing to memoize at byte {pos}"
                memo[len(memo) if arg is None else int(arg)] = stack[-1]
                continue
            if name in _GETS:
                stack.append(memo.get(arg, _OTHER) if isinstance(arg, int) else _OTHER)
                continue
            if name == "POP" and stack[-1:] == [_MARK]:  # POP takes a MARK as POP_MARK does
                marked, count = True, 0
        if marked:
            if not marks:
                return f"not a valid pickle: {name} without a MARK at byte {pos}"
            start = marks.pop()
            taken = stack[start + 1 :]
            del stack[start:]
        if count:
            if len(stack) < count or _MARK in stack[-count:]:
                return f"not a valid pickle: {name} takes more than the stack holds at byte {pos}"
            taken = stack[-count:] + taken
            del stack[-count:]
        if name in _HASHED:
            first, step = _HASHED[name]
            if any(kind != _STR for kind in taken[first::step]):
                what = "dict key" if step == 2 else "set member"
                return f"a {what} that is not a str (at byte {pos})"
        if name == "MARK":
            marks.append(len(stack))
        stack += taken * 2 if name == "DUP" else left
    return None
