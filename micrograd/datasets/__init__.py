"""Data files shipped inside the package (read them with micrograd.data.names())."""
