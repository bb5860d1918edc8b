"""The package version (one place: the package face, the TMX header and the CLI read it)."""

__version__ = "0.1.0"
