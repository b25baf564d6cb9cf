"""srkd.export."""
