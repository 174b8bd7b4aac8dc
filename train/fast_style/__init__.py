"""`train fast-style`: a feed-forward style network (Johnson et al. 2016) trained on content shards.

- `trainer`: the trainer on the engine's loop (networks, step, samples grid, held-out losses).
- `losses`: content, style (Gram), total variation, and the flow-free stability loss.
- `data`: random square crops of content images read from the shards by byte offset.
- `checkpoint`: what a snapshot holds; loading its network (`train stylize`).
"""
