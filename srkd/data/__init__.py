"""srkd.data."""
