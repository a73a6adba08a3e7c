"""The igwn-alert version this package implements (``igwn_alert.version``, as upstream)."""

__all__ = ["__version__"]

# The igwn-alert API level, for code that detects features by it; skyhop's own
# release is hop.__skyhop_version__.
__version__ = "0.7.0"
