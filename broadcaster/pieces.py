"""Many players' byte strings written at once: each a run of pieces, laid end to end.

A send tick's message bodies all have the same shape (the msgpack of ``[adds, removed,
changes, meta]``), and what differs from player to player is which pieces are present,
how long they are and where their bytes come from. :class:`Pieces` takes the pieces in
body order, each for every player at once (NumPy arrays of lengths and source offsets; a
length of 0 leaves the piece out), and :meth:`Pieces.build` copies every piece of every
player into one buffer with one gather. No Python work is done per player.

Pieces are constants (a msgpack key, nil), a choice among a few constants (a dtype code
by level), slices of a source (the encoded values of every player) and msgpack ``bin``
headers sized per player.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["Pieces"]

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

_BIN8, _BIN16 = 0x100, 0x10000  # sizes below these take a bin8 or bin16 header


class Pieces:
    """The byte strings of ``n`` players under construction (see the module docstring)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._sources: list[bytes] = []
        self._source_len = 0
        self._lens: list[IntArray] = []
        self._at: list[IntArray] = []  # offsets into the joined sources

    def _source(self, data: bytes) -> int:
        base = self._source_len
        self._sources.append(data)
        self._source_len += len(data)
        return base

    def slices(self, data: bytes, at: IntArray, size: IntArray) -> None:
        """Player ``j``: ``size[j]`` bytes of ``data`` from ``at[j]`` (0: nothing)."""
        self._lens.append(size)
        self._at.append(at + self._source(data))

    def constant(self, data: bytes, where: BoolArray | None = None) -> None:
        """``data`` for the players ``where`` is True (None: all)."""
        if where is not None and not where.any():
            return  # a piece nobody has costs a column of the layout all the same
        size = len(data) if where is None else where * len(data)
        self._lens.append(np.broadcast_to(np.asarray(size, np.intp), (self.n,)))
        self._at.append(np.full(self.n, self._source(data), np.intp))

    def choice(self, options: Sequence[bytes], index: IntArray, where: BoolArray) -> None:
        """``options[index[j]]`` for the players ``where`` is True."""
        if not where.any():
            return
        bases = np.asarray([self._source(o) for o in options], np.intp)
        lens = np.asarray([len(o) for o in options], np.intp)
        self._lens.append(lens[index] * where)
        self._at.append(bases[index])

    def bin(self, data: bytes, at: IntArray, size: IntArray, where: BoolArray) -> None:
        """A msgpack ``bin`` of ``size[j]`` bytes of ``data`` from ``at[j]``, for the
        players ``where`` is True."""
        if not where.any():
            return
        size = np.where(where, size, 0)
        top = int(size.max()) if self.n else 0
        if top < _BIN8:
            head = np.empty((self.n, 2), np.uint8)
            head[:, 0] = 0xC4
            head[:, 1] = size
            head_len = 2 * where
        else:
            head = np.zeros((self.n, 5), np.uint8)
            small, mid = size < _BIN8, (size >= _BIN8) & (size < _BIN16)
            big = size >= _BIN16
            head[:, 0] = np.where(small, 0xC4, np.where(mid, 0xC5, 0xC6))
            be = size.astype(">u4").view(np.uint8).reshape(-1, 4)  # big-endian bytes
            head[small, 1] = be[small, 3]
            head[mid, 1:3] = be[mid, 2:4]
            head[big, 1:5] = be[big]
            head_len = np.where(small, 2, np.where(mid, 3, 5)) * where
        self.slices(head.tobytes(), np.arange(self.n, dtype=np.intp) * head.shape[1], head_len)
        self.slices(data, at, size)

    def build(self) -> tuple[bytes, IntArray, IntArray]:
        """The joined strings, and where each player's starts and ends."""
        lens = np.stack(self._lens, axis=1)  # players x pieces: the output's order
        totals = lens.sum(axis=1)
        ends = np.cumsum(totals)
        starts = ends - totals
        present = lens > 0
        size, src_at = lens[present], np.stack(self._at, axis=1)[present]
        # The output is every present piece, one after another: byte i comes from source
        # byte index[i], which steps by 1 within a piece and jumps at each piece's start.
        total = int(ends[-1]) if self.n else 0
        step = np.ones(total, np.intp)
        if total:
            first = np.cumsum(size) - size
            step[0] = src_at[0]
            step[first[1:]] = src_at[1:] - (src_at[:-1] + size[:-1]) + 1
        index = np.cumsum(step)
        source = np.frombuffer(b"".join(self._sources), np.uint8)
        return source[index].tobytes(), starts, ends
