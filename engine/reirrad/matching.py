"""Matching TPS structure names to protocol OARs (aliases and regular expressions of the protocol).

Ambiguity and absence are reported, never guessed:

* an OAR matched by two structures is a ``stop`` (``ambiguous-structure``; the user must choose);
* an OAR with no structure, or only an empty one, is a ``stop`` (``oar-not-contoured``,
  ``empty-structure``: its limits cannot be checked; a recorded override may accept that) unless the
  protocol marks it ``optional`` (e.g. the rectum after an abdominoperineal resection, the cord when
  out of range): then ``info`` / ``flag``;
* no protocol OAR matched at all is a ``stop`` that no override lifts (``no-oar-matched``): nothing
  could be checked, so "every limit met" would be empty.

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
        ``ambiguous-structure`` (stop), ``oar-not-contoured`` and ``empty-structure`` (stop, or
        info/flag for an optional OAR), ``no-oar-matched`` (stop), ``structure-shared-by-oars`` (stop:
        an override gives an OAR a structure another OAR has, by another override or by the protocol's
        names; found by a hostile-input review: ``{small_bowel: Bladder, bladder: Bladder}`` evaluated the
        bowel on the bladder and left the matched bowel structure out, with no finding).

    Raises
    ------
    reirrad.errors.InputError
        An override names an unknown OAR or a structure not in the set.
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
            findings.append(Finding(
                "empty-structure", "flag" if spec.optional else "stop",
                f"{spec.label}: structure {hits[0].id!r} is empty; not evaluated"
                + ("" if spec.optional else " - contour it, or override with a recorded reason"),
                subject=spec.key))
        else:
            findings.append(Finding(
                "oar-not-contoured", "info" if spec.optional else "stop",
                f"{spec.label}: no matching structure; not evaluated"
                + (" (optional in the protocol)" if spec.optional else
                   f" - contour it or name it as the protocol does ({', '.join(spec.aliases[:3])}), or "
                   "override with a recorded reason"),
                subject=spec.key))
    findings.extend(_shared_structures(mapping))
    if not mapping and not any(f.code == "ambiguous-structure" for f in findings):
        findings.append(Finding(
            "no-oar-matched", "stop",
            f"no structure of the structure set matches a protocol OAR ({', '.join(protocol.oar_keys)}); "
            "nothing could be checked - rename the structures as the protocol does or map them "
            "(answers file or dialog)", subject="structures"))
    return mapping, findings


def _shared_structures(mapping: Mapping[str, str]) -> List[Finding]:
    """``structure-shared-by-oars`` (stop) for each structure that ``mapping`` (OAR key → structure id)
    gives to several OARs: only through an override (the protocol refuses an alias of two OARs)."""
    by_structure: Dict[str, List[str]] = {}
    for key, sid in mapping.items():
        by_structure.setdefault(sid, []).append(key)
    return [Finding("structure-shared-by-oars", "stop",
                    f"structure {sid!r} is evaluated as {' and as '.join(keys)}: a structure holds one "
                    "organ, so an override probably replaced another OAR's own structure; map each OAR to "
                    "its own structure (answers file or dialog), or override with a recorded reason if this "
                    "is intended", subject=sid)
            for sid, keys in sorted(by_structure.items()) if len(keys) > 1]
