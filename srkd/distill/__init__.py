"""srkd.distill."""
