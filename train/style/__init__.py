"""Gatys et al.'s neural style transfer on a VGG-19 (`train style`).

- `settings.py`: the command's options, checked and resolved (`StyleSettings`);
- `imageio.py`: reading images (errors naming the option), resizing, tensors, atomic writes;
- `losses.py`: Gram matrices and the content, style and total-variation losses;
- `color.py`: colour preservation: luminance-only transfer (YIQ) and colour histogram matching;
- `tiles.py`: the tile grid, its blending windows, shifted tilings and soft per-tile style maps;
- `choose.py`: per-tile styles from a folder (closest by VGG feature statistics) or a JSON map;
- `memory.py`: memory estimates and the `--max-memory` plan (tile size, scales, L-BFGS history);
- `optimize.py`: one scale of the optimisation (whole image or tiles), L-BFGS or Adam;
- `run.py`: the whole command: inputs, scales ladder, outputs (OUT and OUT.json).
"""
