"""reirrad — pelvic SABR re-irradiation planning support (TPS-agnostic engine).

Decision support only: every number must be checked by a qualified physicist, and the
software must be commissioned locally before clinical use.

Modules
-------
lq           BED / EQD2 and inverses (plain LQ)
recovery     time-dependent recovery models
protocol     protocol files with provenance
constraints  remaining OAR tolerance (guidance metric method)
eligibility  eligibility findings
pointcase    the constraint point calculator behind ``reirrad constraints``
dose         dose grids in patient coordinates; rigid/affine and deformable resampling
structures   fractional occupancy of dose voxels from closed planar contours
dvh          binless cumulative DVHs
biomaps      voxel-wise EQD2, recovery and remaining-tolerance maps
cumulative   cumulative evaluation of a new plan (metric sum and voxel-wise)
snapshot     the case as read from a TPS (CaseSnapshot); ports: the CaseSource / Planner protocols
matching     protocol OARs ↔ structure names
objectives   optimisation objectives from the remaining tolerance
search       isotoxic level search (predictive with verification, ladder)
evaluation   a plan evaluated by both cumulative methods
priors       which plans count as prior courses (one rule for every TPS)
gate         the decision gate: stop findings end a run unless overridden
workflow     the planning workflow (prepare, run, final check)
statuses     run statuses and their exit codes
outcome      the typed outcome of a run (RunOutcome), read by every view
runner       the one run path every launcher calls (execute)
result       the result mapping (JSON)
inputfiles   the one strict reader of YAML/JSON input files (case, answers, protocol, stub patients)
bounds       plausibility bounds: fractions, doses, intervals, prescriptions, dates
files        writing output files atomically, the lock of shared files
review       what the confirmation dialog shows (prior courses, matching, recovery preview)
progress     the progress callback and a terminal progress bar
report       self-contained HTML report of a run (text, data, plots, page)
audit        ESTRO-EORTC / national-audit export (CSV, JSON)
"""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("reirrad")
    except PackageNotFoundError:  # running from a source tree that was not installed
        __version__ = "0+unknown (not installed)"
except ImportError:  # pragma: no cover - Python < 3.8 is not supported anyway
    __version__ = "0+unknown"

__all__ = ["__version__"]
