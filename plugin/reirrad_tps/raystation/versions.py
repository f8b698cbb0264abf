"""The RayStation releases the adapter accepts, and the scripting module each one loads.

Call spellings are **not** chosen here: every call whose spelling differs between versions is
feature-detected at run time (:mod:`.call_forms`), because the version boundaries of most renames
are unconfirmed (docs/reference/raystation.md §15) and a public 11A-era script uses a prescription
API that conflicts with the 11B spelling (docs/reference/raystation-public-scripts.md P2, P4, P6).
What remains per version is what must be known before any RayStation object exists: the release
names a user may give, the Python it embeds (§1.1) and the scripting module to import (``connect`` ≤
2024B; 2025 may be ``raystation``, so it tries ``raystation`` first and then ``connect``).

The 2025 row comes from unofficial, incomplete stubs and NYU's Oct-2025 code (§0, §1.1): it is not
modelled by the stand-in and is marked ``confirmed=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Tuple

from reirrad.errors import InputError

__all__ = ["DEFAULT_VERSION", "PROFILES", "VERSIONS", "VersionProfile", "profile"]


@dataclass(frozen=True)
class VersionProfile:
    """One accepted RayStation release.

    Attributes
    ----------
    version : str
        RayStation release, e.g. ``"12A"``.
    python : str
        Python the release embeds (informational; §1.1).
    module_names : tuple of str
        Scripting modules to try, in order (``connect`` ≤ 2024B; ``raystation`` from 2025).
    confirmed : bool
        False when the row rests on unofficial sources only.
    """

    version: str
    python: str
    module_names: Tuple[str, ...]
    confirmed: bool = True


#: One row per accepted release.
PROFILES: Mapping[str, VersionProfile] = {
    p.version: p
    for p in (
        VersionProfile(version="11A", python="3.8", module_names=("connect",)),
        VersionProfile(version="11B", python="3.8", module_names=("connect",)),
        VersionProfile(version="12A", python="3.8", module_names=("connect",)),
        VersionProfile(version="2024B", python="3.11", module_names=("connect",)),
        VersionProfile(version="2025", python="3.11", module_names=("raystation", "connect"),
                       confirmed=False),
    )
}

VERSIONS: Tuple[str, ...] = tuple(PROFILES)
#: The version the stand-in models by default (the newest confirmed one).
DEFAULT_VERSION = "2024B"


def profile(version: str) -> VersionProfile:
    """The row of ``version``.

    Raises
    ------
    reirrad.errors.InputError
        An unknown version (the message lists the supported ones).
    """
    found = PROFILES.get(version) if isinstance(version, str) else None
    if found is None:
        raise InputError(f"RayStation version {version!r} is not supported; choose one of {list(VERSIONS)} "
                         "(the release name shown in RayStation's About box, e.g. '2024B')")
    return found
