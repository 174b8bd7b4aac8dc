"""Image-quality figures that need no download: sliced Wasserstein distance (SWD), and FID/KID when the
user supplies Inception weights as a TorchScript file (nothing is fetched at run time).

SWD follows Karras et al. 2018 (progressive GAN): Laplacian pyramid levels down to 16 px, random 7x7
neighbourhoods as 147-d descriptors, each set normalised per channel, then the sliced Wasserstein
distance over random unit directions, reported x1000 per level (lower is better).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from core.errors import UserError

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])


def _blur_kernel(channels: int, device: torch.device) -> torch.Tensor:
    k = torch.outer(_BINOMIAL, _BINOMIAL).to(device)
    k = k / k.sum()
    return k.expand(channels, 1, 5, 5).contiguous()


def _down(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k, stride=2, groups=x.shape[1])


def _up(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    y = torch.zeros(n, c, h * 2, w * 2, device=x.device, dtype=x.dtype)
    y[:, :, ::2, ::2] = x * 4
    return F.conv2d(F.pad(y, (2, 2, 2, 2), mode="reflect"), k, groups=c)


def laplacian_pyramid(x: torch.Tensor, min_res: int = 16) -> list[torch.Tensor]:
    """Levels from full resolution down; the last one is the low-pass residual at >= min_res."""
    k = _blur_kernel(x.shape[1], x.device)
    levels = []
    while x.shape[-1] // 2 >= min_res:
        small = _down(x, k)
        levels.append(x - _up(small, k))
        x = small
    levels.append(x)
    return levels


def _sliced_wasserstein(
    a: torch.Tensor, b: torch.Tensor, gen: torch.Generator, repeats: int, dirs: int
) -> float:
    total = 0.0
    for _ in range(repeats):
        v = torch.randn(a.shape[1], dirs, generator=gen).to(a.device)
        v = v / v.norm(dim=0, keepdim=True)
        pa, _ = torch.sort(a @ v, dim=0)
        pb, _ = torch.sort(b @ v, dim=0)
        total += float((pa - pb).abs().mean())
    return total / repeats


def _to_float(x: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    return x.to(device=device, dtype=torch.float32)


class SlicedWasserstein:
    """SWD against a fixed set of real images; the reals' pyramid is computed once.

    Both sets must have the same number of images of the same size (uint8 [N, 3, H, W] or float).
    """

    def __init__(
        self,
        reals: torch.Tensor,
        per_image: int = 64,
        seed: int = 0,
        repeats: int = 4,
        dirs: int = 128,
        device: str | torch.device = "cpu",
        batch: int = 256,
    ) -> None:
        self.per_image, self.seed, self.repeats, self.dirs = per_image, seed, repeats, dirs
        self.device, self.batch, self.n = device, batch, reals.shape[0]
        self.real_desc = self._all_descriptors(reals, salt=1)
        self.resolutions = [reals.shape[-1] // 2**i for i in range(len(self.real_desc))]

    def _all_descriptors(self, images: torch.Tensor, salt: int) -> list[torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1000 + salt)
        per_level: list[list[torch.Tensor]] = []
        for i in range(0, images.shape[0], self.batch):
            pyr = laplacian_pyramid(_to_float(images[i : i + self.batch], self.device))
            for j, lvl in enumerate(pyr):
                if len(per_level) <= j:
                    per_level.append([])
                per_level[j].append(self._raw(lvl, gen))
        return [self._normalise(torch.cat(chunks)) for chunks in per_level]

    def _raw(self, level: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, c, h, w = level.shape
        nh = 7
        ys = torch.randint(0, h - nh + 1, (n, self.per_image), generator=gen).to(level.device)
        xs = torch.randint(0, w - nh + 1, (n, self.per_image), generator=gen).to(level.device)
        patches = F.unfold(level, nh)
        idx = ys * (w - nh + 1) + xs
        d = torch.gather(patches, 2, idx[:, None, :].expand(-1, patches.shape[1], -1))
        return d.permute(0, 2, 1).reshape(-1, c, nh * nh)

    @staticmethod
    def _normalise(d: torch.Tensor) -> torch.Tensor:
        d = (d - d.mean(dim=(0, 2), keepdim=True)) / d.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
        return d.reshape(d.shape[0], -1)

    def __call__(self, fakes: torch.Tensor) -> dict[str, float]:
        """{'swd_<res>': ..., 'swd_avg': ...}, each x1000 (lower is better)."""
        if fakes.shape[0] != self.n:
            raise ValueError(f"SWD needs {self.n} fakes (as many as reals), got {fakes.shape[0]}")
        fake_desc = self._all_descriptors(fakes, salt=2)
        gen = torch.Generator().manual_seed(self.seed * 1000 + 3)
        out = {}
        for res, a, b in zip(self.resolutions, self.real_desc, fake_desc, strict=True):
            out[f"swd_{res}"] = round(1e3 * _sliced_wasserstein(a, b, gen, self.repeats, self.dirs), 4)
        out["swd_avg"] = round(sum(out.values()) / len(out), 4)
        return out


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, **kwargs: object) -> dict[str, float]:
    """One-shot SWD between two image sets of the same shape."""
    return SlicedWasserstein(a, **kwargs)(b)  # type: ignore[arg-type]


# -- FID / KID -------------------------------------------------------------------------------------


class InceptionFeatures:
    """2048-d pool features from a TorchScript Inception (e.g. clean-fid's inception-2015-12-05.pt).

    The module is called with float images in [0, 255], [N, 3, 299, 299], as `model(x,
    return_features=True)` when it accepts that keyword, else `model(x)`.
    """

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"--inception {path}: no such file; give a TorchScript Inception (.pt) file")
        try:
            self.model = torch.jit.load(str(path), map_location=device).eval()
        except (RuntimeError, ValueError) as e:
            raise UserError(f"--inception {path}: not a TorchScript module ({str(e).splitlines()[0]})") from e
        self.device = device

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch: int = 100) -> torch.Tensor:
        feats = []
        for i in range(0, images.shape[0], batch):
            x = _to_float(images[i : i + batch], self.device)
            if x.shape[-1] != 299:
                x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            try:
                f = self.model(x, return_features=True)
            except (RuntimeError, TypeError):
                f = self.model(x)
            feats.append(f.reshape(f.shape[0], -1).double().cpu())
        return torch.cat(feats)


def fid_from_features(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (float64)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    # Tr(sqrtm(Ca Cb)) = sum of square roots of the eigenvalues of Ca Cb (real, >= 0 up to rounding)
    eig = torch.linalg.eigvals(ca @ cb).real.clamp_min(0)
    return float((mu_a - mu_b).square().sum() + ca.trace() + cb.trace() - 2 * eig.sqrt().sum())


def kid_from_features(
    a: torch.Tensor, b: torch.Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> float:
    """Kernel inception distance: unbiased MMD^2 with a cubic polynomial kernel, averaged over subsets."""
    n = a.shape[1]
    m = min(a.shape[0], b.shape[0], subset_size)
    gen = torch.Generator().manual_seed(seed)
    t = 0.0
    for _ in range(subsets):
        x = a[torch.randperm(a.shape[0], generator=gen)[:m]]
        y = b[torch.randperm(b.shape[0], generator=gen)[:m]]
        kxx = (x @ x.T / n + 1) ** 3
        kyy = (y @ y.T / n + 1) ** 3
        kxy = (x @ y.T / n + 1) ** 3
        t += float(
            (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
            - 2 * kxy.mean()
        )
    return t / subsets


def fid_kid(model: InceptionFeatures, reals: torch.Tensor, fakes: torch.Tensor) -> dict[str, float]:
    fr, ff = model(reals), model(fakes)
    fid = fid_from_features(fr, ff)
    kid = kid_from_features(fr, ff)
    return {"fid": round(fid if math.isfinite(fid) else float("nan"), 4), "kid": round(kid, 6)}
