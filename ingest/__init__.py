"""Imagery in: sources (local files, the synthetic demo), the analysis grid, the scene catalogue, the pipeline."""
