"""Tag directions in the DCGAN's latent space (`train directions`, `train sample --tags`, `train demo`).

- `latent`: the direction maths every user of directions shares (z0 within a noise strength,
  z = z0 + sum(s_i * d_i), the norm cap that keeps z in the prior's range, slerp); numpy only, and
  mirrored line for line by `train/demo/static/latent.js` for the exported page;
- `store`: `directions.json` (reading, writing, `--tags "a=+1,b=-0.5"` specs);
- `fit`: scoring generated faces with the tagger, the `mean` and `linear` directions, their
  measured effects;
- `page`: the HTML page with the effect matrix and a strip of faces per tag.
"""
