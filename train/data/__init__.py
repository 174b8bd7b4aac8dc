"""Reading the shards that `prep` writes into batched tensors (see `train.loader`)."""
