"""`train style`: Gatys et al.'s neural style transfer on a VGG-19 (options; the work is in train.style)."""

from __future__ import annotations

from typing import Annotated

import typer

Opt = typer.Option


def main(
    content: Annotated[str, Opt(help="The photo (any size; PNG, JPEG, WebP, BMP, GIF).")],
    vgg_weights: Annotated[
        str, Opt(help="VGG-19 state dict, .pth/.pt or .safetensors (vgg19-dcbb9e9d.pth; see the README).")
    ],
    out: Annotated[str, Opt(help="The output image (.png, .jpg, .webp); OUT.json is written beside it.")],
    style: Annotated[list[str], Opt(help="A style image; repeat for several (see --style-blend).")] = [],  # noqa: B006
    style_blend: Annotated[
        str | None, Opt(help="Weights of the --style images, e.g. 0.7,0.3 (default: equal).")
    ] = None,
    size: Annotated[int | None, Opt(help="Long side of the output in px (default: the content's).")] = None,
    iters: Annotated[int, Opt(help="Iterations per scale (L-BFGS iterations or Adam steps).")] = 500,
    optimizer: Annotated[str, Opt(help="lbfgs or adam.")] = "lbfgs",
    lr: Annotated[
        float | None, Opt(help="Step size (default 1 for L-BFGS, 0.02 for Adam, in pixel values 0-1).")
    ] = None,
    seed: Annotated[int, Opt(help="Seed of the noise start image and the tile shifts.")] = 0,
    device: Annotated[str, Opt(help="auto, cpu or cuda.")] = "auto",
    content_weight: Annotated[float, Opt(help="Weight of the content loss.")] = 5.0,
    style_weight: Annotated[float, Opt(help="Weight of the style loss.")] = 100.0,
    tv_weight: Annotated[
        float, Opt(help="Weight of the total-variation loss (image in 0-255 levels).")
    ] = 1e-3,
    content_layers: Annotated[
        str, Opt(help="Comma-separated VGG-19 layers of the content loss.")
    ] = "relu4_2",
    style_layers: Annotated[
        str, Opt(help="Comma-separated VGG-19 layers of the style loss.")
    ] = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
    content_layer_weights: Annotated[
        str | None, Opt(help="Comma-separated weights, one per --content-layers (default: all 1).")
    ] = None,
    style_layer_weights: Annotated[
        str | None, Opt(help="Comma-separated weights, one per --style-layers (default: all 1).")
    ] = None,
    init: Annotated[
        str, Opt(help="Start image: content (the photo) or noise (mixed, see --noise-ratio).")
    ] = "content",
    noise_ratio: Annotated[
        float | None,
        Opt(help="With --init noise: start = ratio * noise + (1 - ratio) * content (default 0.6)."),
    ] = None,
    preserve_color: Annotated[
        str, Opt(help="none, luminance (transfer luminance only) or histogram (recolour the style first).")
    ] = "none",
    scales: Annotated[
        str | None, Opt(help="Coarse-to-fine long sides, e.g. 256,512; each scale starts from the previous.")
    ] = None,
    tile: Annotated[int | None, Opt(help="Process the image in tiles of at most this many px.")] = None,
    tile_overlap: Annotated[
        int | None, Opt(help="Overlap of neighbouring tiles in px, blended (default: a quarter of --tile).")
    ] = None,
    tile_styles: Annotated[
        str | None,
        Opt(
            help='Per-tile styles: a folder (closest style per tile) or a JSON map {"grid": [[file, ...], ...]}.'
        ),
    ] = None,
    max_memory: Annotated[
        float | None,
        Opt(help="GiB the run may use: picks tile size, scales and L-BFGS history, and says so."),
    ] = None,
    vgg_preprocess: Annotated[
        str, Opt(help="auto (from the file's sha256 prefix), torchvision or caffe.")
    ] = "auto",
    pooling: Annotated[str, Opt(help="max (as trained) or avg (Gatys et al.'s choice).")] = "max",
    style_scale: Annotated[float, Opt(help="Style image long side relative to the output's.")] = 1.0,
    lbfgs_history: Annotated[int, Opt(help="L-BFGS history size (--max-memory may lower it).")] = 100,
    progress: Annotated[bool, Opt(help="Show a progress bar.")] = True,
) -> None:
    """Paint the photo in the style of the style image(s) (Gatys et al.), optimising the image."""
    from train.style.run import run_style
    from train.style.settings import StyleSettings

    params = dict(locals())
    params.pop("run_style")
    params.pop("StyleSettings")
    params["style"] = list(style)
    run_style(StyleSettings(**params))
