"""srkd.distill.methods."""
