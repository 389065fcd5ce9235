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
# Every bin8 header, ``C4 k`` at offset 2k: a player's header is a slice of it, so a bin
# whose every size is below 256 needs no header bytes written per player.
_BIN8_HEADS = bytes(b for k in range(_BIN8) for b in (0xC4, k))
_ROWS = 32  # pieces laid out before the layout grows (a body takes about 20)


class Pieces:
    """The byte strings of ``n`` players under construction (see the module docstring).

    The layout is two pieces x players matrices (each piece's length and source offset
    per player), allocated once and filled a row per piece: a piece costs one or two
    NumPy assignments, whatever it is (the per-call overhead of NumPy, not the bytes,
    is what a send tick of a few hundred players spends its time on)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._sources: list[bytes] = []
        self._source_len = 0
        self._lens = np.zeros((_ROWS, n), np.intp)
        self._at = np.zeros((_ROWS, n), np.intp)  # offsets into the joined sources
        self._count = 0  # pieces so far
        self._heads = -1  # where _BIN8_HEADS is in the sources (-1: not yet)

    def _source(self, data: bytes) -> int:
        base = self._source_len
        self._sources.append(data)
        self._source_len += len(data)
        return base

    def _row(self) -> int:
        """The next piece's row of the layout (grown when full)."""
        k = self._count
        if k == self._lens.shape[0]:
            pad = np.zeros((k, self.n), np.intp)
            self._lens = np.concatenate([self._lens, pad])
            self._at = np.concatenate([self._at, pad])
        self._count = k + 1
        return k

    def slices(self, data: bytes, at: IntArray, size: IntArray) -> None:
        """Player ``j``: ``size[j]`` bytes of ``data`` from ``at[j]`` (0: nothing)."""
        k = self._row()
        self._lens[k] = size
        self._at[k] = at + self._source(data)

    def constant(self, data: bytes, where: BoolArray | None = None) -> None:
        """``data`` for the players ``where`` is True (None: all)."""
        # (np.count_nonzero: a third of what ndarray.any costs on the arrays of a send tick)
        if where is not None and not np.count_nonzero(where):
            return  # a piece nobody has costs a row of the layout all the same
        k = self._row()
        self._lens[k] = len(data) if where is None else where * len(data)
        self._at[k] = self._source(data)

    def choice(self, options: Sequence[bytes], index: IntArray, where: BoolArray) -> None:
        """``options[index[j]]`` for the players ``where`` is True."""
        if not np.count_nonzero(where):
            return
        bases = np.asarray([self._source(o) for o in options], np.intp)
        lens = np.asarray([len(o) for o in options], np.intp)
        k = self._row()
        self._lens[k] = lens[index] * where
        self._at[k] = bases[index]

    def bin(self, data: bytes, at: IntArray, size: IntArray, where: BoolArray) -> None:
        """A msgpack ``bin`` of ``size[j]`` bytes of ``data`` from ``at[j]``, for the
        players ``where`` is True."""
        if not np.count_nonzero(where):
            return
        size = size * where
        top = int(size.max()) if self.n else 0
        if top < _BIN8:  # the common case: every header is a slice of _BIN8_HEADS
            if self._heads < 0:
                self._heads = self._source(_BIN8_HEADS)
            k = self._row()
            self._lens[k] = 2 * where
            self._at[k] = 2 * size + self._heads
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
            self.slices(head.tobytes(), np.arange(self.n, dtype=np.intp) * 5, head_len)
        self.slices(data, at, size)

    def build(self) -> tuple[bytes, IntArray, IntArray]:
        """The joined strings, and where each player's starts and ends."""
        count = self._count
        lens = self._lens[:count].T.ravel()  # player by player, its pieces in order
        totals = lens.reshape(self.n, count).sum(axis=1)
        ends = np.cumsum(totals)
        starts = ends - totals
        # The output is every piece, one after another (an empty one takes no bytes): byte
        # i of a piece comes from source byte at + i.
        first = np.cumsum(lens) - lens
        index = np.repeat(self._at[:count].T.ravel() - first, lens)
        index += np.arange(index.shape[0], dtype=np.intp)
        source = np.frombuffer(b"".join(self._sources), np.uint8)
        return source[index].tobytes(), starts, ends
