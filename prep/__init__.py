"""Data preparation stages: crawl store -> faces, tags, line art -> WebDataset shards."""
