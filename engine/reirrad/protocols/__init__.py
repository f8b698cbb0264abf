"""Shipped protocol files (YAML); load them with :func:`reirrad.protocol.load_protocol`."""
