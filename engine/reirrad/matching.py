"""Matching TPS structure names to protocol OARs (aliases and regular expressions of the protocol).

Ambiguity and absence are reported, never guessed: an OAR matched by two structures is a ``stop``
finding (the user must choose); an OAR with no structure is an ``info`` finding and is left out.
A user-supplied mapping (``overrides``: OAR key → structure id) wins over the patterns.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .errors import InputError
from .findings import Finding
from .protocol import Protocol
from .snapshot import StructureData

__all__ = ["match_structures"]


def match_structures(protocol: Protocol, structures: Sequence[StructureData],
                     overrides: Optional[Mapping[str, str]] = None) -> Tuple[Dict[str, str], List[Finding]]:
    """Map protocol OAR keys to structure ids.

    Returns
    -------
    mapping : dict
        OAR key → structure id, for OARs matched unambiguously (or given in ``overrides``).
    findings : list of Finding
        ``ambiguous-structure`` (stop), ``oar-not-contoured`` (info), ``empty-structure`` (flag).
    """
    ids = {s.id for s in structures}
    overrides = dict(overrides or {})
    for key, sid in overrides.items():
        protocol.oar(key)
        if sid not in ids:
            raise InputError(f"structure {sid!r} given for {key} is not in the structure set ({sorted(ids)})")
    mapping: Dict[str, str] = {}
    findings: List[Finding] = []
    for spec in protocol.oars:
        if spec.key in overrides:
            mapping[spec.key] = overrides[spec.key]
            continue
        hits = [s for s in structures if spec.matches(s.id)]
        non_empty = [s for s in hits if not s.is_empty]
        if len(non_empty) > 1:
            findings.append(Finding(
                "ambiguous-structure", "stop",
                f"{spec.label}: structures {[s.id for s in non_empty]} all match; choose one "
                f"(answers file or dialog)", subject=spec.key))
        elif len(non_empty) == 1:
            mapping[spec.key] = non_empty[0].id
        elif hits:
            findings.append(Finding("empty-structure", "flag",
                                    f"{spec.label}: structure {hits[0].id!r} is empty; not evaluated",
                                    subject=spec.key))
        else:
            findings.append(Finding("oar-not-contoured", "info",
                                    f"{spec.label}: no matching structure; not evaluated", subject=spec.key))
    return mapping, findings
