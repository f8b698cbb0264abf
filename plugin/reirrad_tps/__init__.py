"""reirrad_tps — thin adapters between treatment planning systems and the reirrad engine.

* ``reirrad_tps.raystation`` — RayStation (``connect``): case source, planner port, entry helpers,
  menu entry and self-check.
* ``reirrad_tps.eclipse`` — Eclipse (ESAPI through pythonnet): case source and planner port.
* ``reirrad_tps.commands`` / ``planrun`` — the ``reirrad plan``, ``demo`` and ``stub-patients``
  commands (registered through the ``reirrad.commands`` entry point).

Not implemented yet: the Eclipse launcher and host executable (issue 5) and ``dicom`` (offline
DICOM, issue 9). Adapters translate TPS objects and units to engine types and contain no radiobiology.
"""

from __future__ import annotations

__all__: list[str] = []
