"""Small helpers every stage uses: atomic file writes, image conversion and grids, device choice."""
