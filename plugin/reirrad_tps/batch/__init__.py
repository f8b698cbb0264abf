"""Cohort runs: ``reirrad batch MANIFEST --out DIR`` (docs/batch.md).

* :mod:`.manifest` — the manifest (YAML or CSV) and its cases, checked against the commands' options;
* :mod:`.fingerprint` — what a case depends on, so an unchanged case is reused;
* :mod:`.runner` — every case in its own process, on this machine or on a Dask cluster;
* :mod:`.command` — the command line: policies compared, progress, the cohort's summary and report.
"""

from __future__ import annotations

from typing import List

__all__: List[str] = []
