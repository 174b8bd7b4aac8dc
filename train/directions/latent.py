"""The direction maths shared by `train sample --tags`, the demo server and the exported page.

    z0 = noise * normal(seed)              a prior sample (N(0, I)) scaled by the noise strength
    z  = cap(z0 + sum_i s_i * d_i)         d_i: the tag directions, s_i: the slider values
    cap(z) = z * min(1, R / |z|)           R: the prior's radius (see `prior_radius`)

`normal(seed)` is a small portable generator (mulberry32 + Box-Muller) rather than torch's, so the
exported page's JavaScript (train/demo/static/latent.js, which mirrors this file) draws the very
same z0 for a seed as the server: a URL gives the same face in both. Numpy only (no torch).
"""

from __future__ import annotations

import math

import numpy as np

MASK = 0xFFFFFFFF
CHI_SIGMAS = 3.0
"""How far beyond the typical norm of a prior sample z may go, in standard deviations of that norm."""


def mulberry32(seed: int):
    """An endless stream of floats in [0, 1) from a 32-bit seed (the same numbers as latent.js)."""
    a = seed & MASK
    while True:
        a = (a + 0x6D2B79F5) & MASK
        t = ((a ^ (a >> 15)) * (a | 1)) & MASK
        t = ((t + (((t ^ (t >> 7)) * (t | 61)) & MASK)) & MASK) ^ t
        yield ((t ^ (t >> 14)) & MASK) / 4294967296.0


def normal(seed: int, nz: int) -> np.ndarray:
    """nz independent N(0, 1) values (float32) from `seed`, by Box-Muller on mulberry32."""
    rnd = mulberry32(seed)
    out = np.empty(nz + (nz & 1), dtype=np.float64)
    for i in range(0, nz, 2):
        u1, u2 = 1.0 - next(rnd), next(rnd)  # u1 in (0, 1]: log(u1) is finite
        r = math.sqrt(-2.0 * math.log(u1))
        out[i], out[i + 1] = r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)
    return out[:nz].astype(np.float32)


def prior_radius(nz: int) -> float:
    """The largest norm kept: a prior sample's norm is about sqrt(nz) (chi distribution, standard
    deviation about 1/sqrt(2)); beyond sqrt(nz) + 3/sqrt(2) the generator has practically never been."""
    return math.sqrt(nz) + CHI_SIGMAS * math.sqrt(0.5)


def z0(seed: int, nz: int, noise: float) -> np.ndarray:
    """The starting point: a prior sample for `seed` scaled by the noise strength (0: the origin)."""
    return (np.float32(noise) * normal(seed, nz)).astype(np.float32)


def cap(z: np.ndarray) -> np.ndarray:
    """Rows of z ([nz] or [N, nz]) longer than the prior's radius scaled back onto it."""
    z = np.asarray(z, dtype=np.float32)
    norm = np.linalg.norm(z, axis=-1, keepdims=True)
    r = prior_radius(z.shape[-1])
    scale = np.where(norm > r, r / np.maximum(norm, 1e-12), 1.0).astype(np.float32)
    return (z * scale).astype(np.float32)


def compose(start: np.ndarray, directions: np.ndarray, strengths: np.ndarray) -> np.ndarray:
    """cap(start + strengths @ directions): start [nz] or [N, nz], directions [T, nz], strengths [T]."""
    s = np.asarray(strengths, dtype=np.float32)
    start = np.asarray(start, dtype=np.float32)
    if len(s) == 0:
        return cap(start)
    return cap(start + s @ np.asarray(directions, dtype=np.float32).reshape(len(s), -1))


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between two latent points (linear when either is ~0 or they are parallel)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na < 1e-6 or nb < 1e-6:
        return ((1 - t) * a + t * b).astype(np.float32)
    omega = math.acos(max(-1.0, min(1.0, float(a @ b) / (na * nb))))
    if omega < 1e-4:
        return ((1 - t) * a + t * b).astype(np.float32)
    so = math.sin(omega)
    return (math.sin((1 - t) * omega) / so * a + math.sin(t * omega) / so * b).astype(np.float32)


def face(seed: int, noise: float, nz: int, directions: np.ndarray, strengths: np.ndarray) -> np.ndarray:
    """The demo's point for one face: compose(z0(seed, nz, noise), directions, strengths)."""
    return compose(z0(seed, nz, noise), directions, strengths)


def mix(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """A point between two pinned faces: cap(slerp(a, b, t))."""
    return cap(slerp(a, b, t))
