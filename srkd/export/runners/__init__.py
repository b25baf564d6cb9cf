"""srkd.export.runners."""
