"""Covered id ranges of a query: `[lo, hi, n]` means every post matching it with lo <= id <= hi is done.

The crawler lists newest-first with `id:<N`, so each finished page covers a contiguous id range;
ranges of consecutive pages touch and merge. A rerun lists from the top again, takes the new posts
above the highest range, then jumps over covered ranges to continue where an interrupted run stopped.
"""

from __future__ import annotations

Interval = tuple[int, int, int]  # lo, hi (both inclusive), number of posts in it


def find(intervals: list[Interval], post_id: int) -> Interval | None:
    """The interval holding `post_id`, if any."""
    for iv in intervals:
        if iv[0] <= post_id <= iv[1]:
            return iv
    return None


def add(intervals: list[Interval], lo: int, hi: int, n: int) -> list[Interval]:
    """Add `[lo, hi]` holding `n` posts not counted by existing intervals; merges touching ones."""
    if lo > hi:
        return sorted(intervals)
    new_lo, new_hi, new_n = lo, hi, n
    keep = []
    for a, b, c in intervals:
        if a <= new_hi + 1 and new_lo <= b + 1:
            new_lo, new_hi, new_n = min(a, new_lo), max(b, new_hi), new_n + c
        else:
            keep.append((a, b, c))
    return sorted([*keep, (new_lo, new_hi, new_n)])
