"""Private helpers of :mod:`hop.auth` and :mod:`hop.configure`."""
