"""Network definitions for the trainers (pure torch.nn; no training logic)."""
