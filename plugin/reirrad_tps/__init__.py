"""reirrad_tps — thin adapters between treatment planning systems and the reirrad engine.

* ``reirrad_tps.raystation`` — RayStation (``connect``): case source, planner port, entry helpers,
  menu entry and self-check.
* ``reirrad_tps.eclipse`` — Eclipse (ESAPI through pythonnet): case source, planner port, the Python
  side of the host executable (``host``) and the stand-alone path (``standalone``).
* ``reirrad_tps.dicom`` — offline DICOM (pydicom, the ``dicom`` extra): RT Dose / Struct / Plan, CT
  geometry, spatial registrations; RT Dose writers for EQD2 and remaining-tolerance maps.
* ``reirrad_tps.answers`` / ``dialog`` — the dosimetrist's choices: answers files and the confirmation
  dialog (Tkinter, both TPSs).
* ``reirrad_tps.commands`` / ``planrun`` — the ``reirrad plan``, ``demo``, ``evaluate`` and
  ``stub-patients`` commands (registered through the ``reirrad.commands`` entry point); the stand-in
  commands import the TPS stand-ins (a separate distribution) only when one is asked for.

Every launcher hands the run itself to :func:`reirrad.runner.execute` (run or evaluate, result, the
report and audit row, a typed outcome). Adapters translate TPS objects and units to engine types and
contain no radiobiology.
"""

from __future__ import annotations

__all__: list[str] = []
