"""Colour preservation (Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer").

- luminance: the transfer runs on luminance only (YIQ's Y, as grey RGB into the network), with the
  style's luminance shifted and scaled to the content's mean and spread; the result's Y is put
  together with the content's I and Q channels.
- histogram: before the transfer the style image is recoloured by the affine map x -> A x + b that
  gives its pixels the content's colour mean and covariance (A = Sc^1/2 Ss^-1/2, symmetric roots).
"""

from __future__ import annotations

import torch

_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def rgb_to_yiq(rgb: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W RGB -> YIQ (same shape)."""
    return torch.einsum("ij,njhw->nihw", _RGB2YIQ.to(rgb), rgb)


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _YIQ2RGB.to(yiq), yiq)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W RGB -> N x 1 x H x W luminance (Y)."""
    return rgb_to_yiq(rgb)[:, :1].contiguous()


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """The style's luminance with the content's mean and standard deviation."""
    s_mu, s_sd = style_y.mean(), style_y.std().clamp_min(1e-6)
    return (style_y - s_mu) * (content_y.std() / s_sd) + content_y.mean()


def with_content_color(y: torch.Tensor, content_rgb: torch.Tensor) -> torch.Tensor:
    """RGB from luminance `y` (N x 1 x H x W) and the content's I and Q channels."""
    yiq = rgb_to_yiq(content_rgb)
    return yiq_to_rgb(torch.cat([y, yiq[:, 1:]], 1))


def _sqrtm(m: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m)
    vals = vals.clamp_min(1e-8)
    root = vals.rsqrt() if inverse else vals.sqrt()
    return vecs @ torch.diag(root) @ vecs.t()


def match_histogram(style_rgb: torch.Tensor, content_rgb: torch.Tensor) -> torch.Tensor:
    """The style image recoloured to the content's colour mean and covariance, clipped to [0, 1]."""
    s = style_rgb[0].reshape(3, -1).double()
    c = content_rgb[0].reshape(3, -1).double()
    mu_s, mu_c = s.mean(1, keepdim=True), c.mean(1, keepdim=True)
    eye = 1e-5 * torch.eye(3, dtype=s.dtype)
    cov_s = torch.cov(s) + eye
    cov_c = torch.cov(c) + eye
    a = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    out = a @ (s - mu_s) + mu_c
    return out.float().reshape(style_rgb.shape).clamp(0, 1)
