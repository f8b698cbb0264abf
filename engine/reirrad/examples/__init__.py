"""Example inputs shipped with the package (documented in each file's header)."""
