"""`train stylize`: an image or a video through a `train fast-style` network."""

from __future__ import annotations

from typing import Annotated

import typer


def main(
    ckpt: Annotated[str, typer.Option(help="A fast-style run directory (latest snapshot) or snapshot file.")],
    in_: Annotated[str, typer.Option("--in", help="An image (any size) or a video (anything OpenCV reads).")],
    out: Annotated[
        str, typer.Option(help="Output image (.png, .jpg, ...) or video (.mp4, mp4v); OUT.json beside it.")
    ],
    preserve_color: Annotated[
        str, typer.Option(help="none, or luminance: the output's luminance with the input's colours.")
    ] = "none",
    tile: Annotated[
        int, typer.Option(help="Frames with a side over this many px are stylised in overlapping tiles.")
    ] = 2048,
    tile_overlap: Annotated[int, typer.Option(help="Overlap of neighbouring tiles in px.")] = 128,
    batch: Annotated[int, typer.Option(help="Video frames per forward pass.")] = 1,
    warp_error: Annotated[
        bool, typer.Option(help="Measure the temporal warping error of a video (optical flow, CPU).")
    ] = True,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on CUDA, fp32 on CPU), bf16 or fp32.")] = "auto",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Stylise an image or a video; writes OUT and OUT.json (frames, fps, seconds, warp error)."""
    import os

    # FFmpeg's own complaints about a broken file would precede our one-line error
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    from train.engine.device import resolve_device, resolve_precision
    from train.stylize.run import stylize, summary

    dev = resolve_device(device)
    r = stylize(
        ckpt, in_, out, preserve_color, dev, resolve_precision(precision, dev), tile, tile_overlap, batch,
        warp_error, progress,
    )  # fmt: skip
    typer.echo(summary(r))
