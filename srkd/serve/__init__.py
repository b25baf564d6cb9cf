"""srkd.serve."""
