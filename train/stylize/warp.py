"""Temporal warping error of a video (Lai et al. 2018), measured with OpenCV's optical flow.

For each pair of consecutive frames t-1, t of the INPUT video, Farneback flow is computed both
ways on grayscale copies scaled so that the long side is at most `WARP_SIDE` px. The previous
frame of a video X (the output, or the input itself for the floor) is warped to frame t along
the backward flow, and the error of frame t is the mean absolute difference |X_t - warp(X_{t-1})|
in 8-bit levels over the channels and the non-occluded pixels. Occlusions are the pixels that
fail the forward-backward consistency check (Sundaram et al. 2010):
    |b + f(p + b)|^2 < 0.01 (|b|^2 + |f(p + b)|^2) + 0.5     (b: backward flow at p)
or whose flow leaves the frame. The video's figure is the mean over its frame pairs.
"""

from __future__ import annotations

import cv2
import numpy as np

WARP_SIDE = 480
"""Long side (px) of the frames the flow and the error are computed on."""

_FARNEBACK = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5, "poly_sigma": 1.2}


def _small(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    s = WARP_SIDE / max(h, w)
    if s >= 1:
        return frame
    return cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flow from gray frame a to gray frame b (HxWx2 float32: where each pixel of a is in b)."""
    return cv2.calcOpticalFlowFarneback(a, b, None, flags=0, **_FARNEBACK)


class WarpError:
    """Accumulates the warping error of an output video and of its input, frame by frame."""

    def __init__(self) -> None:
        self.prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # gray in, in, out (small)
        self.sums = [0.0, 0.0]
        self.pairs = 0

    def add(self, src: np.ndarray, out: np.ndarray) -> None:
        """The next frame of the input and of the output (HxWx3 uint8, same size)."""
        s, o = _small(src), _small(out)
        g = cv2.cvtColor(s, cv2.COLOR_BGR2GRAY)
        if self.prev is not None:
            pg, ps, po = self.prev
            mapx, mapy, valid = self._maps(g, pg)
            for i, (cur, prev) in enumerate(((o, po), (s, ps))):
                warped = cv2.remap(prev, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                diff = np.abs(cur.astype(np.float32) - warped.astype(np.float32)).mean(axis=2)
                self.sums[i] += float(diff[valid].mean()) if valid.any() else 0.0
            self.pairs += 1
        self.prev = (g, s, o)

    @staticmethod
    def _maps(g: np.ndarray, pg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Remap coordinates of frame t into frame t-1 and the non-occluded mask."""
        h, w = g.shape
        back = _flow(g, pg)  # t -> t-1
        fwd = _flow(pg, g)  # t-1 -> t
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        mapx, mapy = xs + back[..., 0], ys + back[..., 1]
        fwd_at = cv2.remap(fwd, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        loop = back + fwd_at
        consistent = (loop**2).sum(2) < 0.01 * ((back**2).sum(2) + (fwd_at**2).sum(2)) + 0.5
        inside = (mapx >= 0) & (mapx <= w - 1) & (mapy >= 0) & (mapy <= h - 1)
        return mapx, mapy, consistent & inside

    def result(self) -> dict[str, float | None]:
        """{"warp_error": output's, "input_warp_error": the input's (the floor)}; None for one frame."""
        if self.pairs == 0:
            return {"warp_error": None, "input_warp_error": None}
        return {
            "warp_error": round(self.sums[0] / self.pairs, 4),
            "input_warp_error": round(self.sums[1] / self.pairs, 4),
        }
