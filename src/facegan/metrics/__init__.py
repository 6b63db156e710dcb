"""Metrics: FID, KID, precision/recall, PPL and SWD, their feature extractors and cached statistics."""
