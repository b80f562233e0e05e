"""Watched ranges as sorted, disjoint [start, end] pairs of seconds."""
from __future__ import annotations

Range = tuple[float, float]


def merge(ranges) -> list[list[float]]:
    """Union of ranges (touching or overlapping ones join)."""
    out: list[list[float]] = []
    for start, end in sorted((float(a), float(b)) for a, b in ranges if b > a):
        if out and start <= out[-1][1] + 1e-6:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def measure(ranges) -> float:
    return sum(end - start for start, end in ranges)


def clip(ranges, lo: float, hi: float) -> list[list[float]]:
    """The parts of ranges inside [lo, hi]."""
    return merge((max(a, lo), min(b, hi)) for a, b in ranges if min(b, hi) > max(a, lo))


def truncate(ranges, budget: float) -> list[list[float]]:
    """Keep at most `budget` seconds, earliest first."""
    out = []
    for start, end in ranges:
        if budget <= 0:
            break
        take = min(end - start, budget)
        out.append([start, start + take])
        budget -= take
    return out


def rounded(ranges, ndigits: int = 2) -> list[list[float]]:
    return [[round(a, ndigits), round(b, ndigits)] for a, b in ranges]
