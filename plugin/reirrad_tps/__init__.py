"""reirrad_tps — thin adapters between treatment planning systems and the reirrad engine.

Planned sub-packages (not implemented yet): ``eclipse`` (ESAPI through pythonnet),
``raystation`` (the ``connect`` scripting module) and ``dicom`` (pydicom, offline). Adapters
translate TPS objects and units to engine types and contain no radiobiology.
"""

from __future__ import annotations

__all__: list[str] = []
