"""Reading attribute values from a pydicom ``Dataset`` with messages that name file, attribute and fix.

DICOM attribute *types* (PS3.5 §7.4): Type 1 must be present with a value, Type 2 must be present
but may be empty, Type 3 is optional. An empty Type 2 value is returned here as ``""`` (text) or
None (numbers), never invented.
"""

from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence, Tuple

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from reirrad.errors import InputError, shown

__all__ = [
    "attribute_label",
    "float_values",
    "optional_int",
    "optional_text",
    "required",
    "required_int",
    "required_text",
    "sequence_items",
    "text",
    "values_list",
]


def attribute_label(keyword: str) -> str:
    """``DoseGridScaling (3004,000E)``: the keyword with its tag, for messages."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return keyword
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, bytes)):
        return value.strip() == "" if isinstance(value, str) else len(value) == 0
    try:
        return len(value) == 0
    except TypeError:
        return False


def required(ds: Dataset, keyword: str, where: str, *, fix: str) -> Any:
    """The value of a Type 1 attribute, else InputError naming ``where`` (the file), attribute, ``fix``."""
    value = ds.get(keyword)
    if _is_empty(value):
        state = "missing" if keyword not in ds else "empty"
        raise InputError(f"{where}: {attribute_label(keyword)} is {state}; {fix}")
    return value


def text(ds: Dataset, keyword: str) -> str:
    """The value as stripped text, ``""`` when absent or empty (Type 2/3 text attributes); control and
    bidirectional characters written as visible escapes (:func:`reirrad.errors.shown`: a PatientID with a
    terminal escape cleared the console and reached the report and the audit row raw)."""
    value = ds.get(keyword)
    return "" if _is_empty(value) else shown(str(value).strip())


def optional_text(ds: Dataset, keyword: str) -> Optional[str]:
    """The value as stripped text, None when absent or empty."""
    return text(ds, keyword) or None


def required_text(ds: Dataset, keyword: str, where: str, *, fix: str) -> str:
    """A Type 1 text value (UIDs, code strings), stripped."""
    return shown(str(required(ds, keyword, where, fix=fix)).strip())


def values_list(value: Any) -> List[Any]:
    """A multi-valued attribute's values as a list (pydicom gives a single value, not a list, for VM 1)."""
    if isinstance(value, (str, bytes)):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]


def float_values(ds: Dataset, keyword: str, where: str, *, count: Optional[int] = None,
                 fix: str) -> Tuple[float, ...]:
    """The finite numbers of a Type 1 multi-valued numeric attribute (DS/FD), checked for ``count``.

    pydicom returns a single value (not a list) when the attribute holds one number; both are
    accepted.
    """
    raw = values_list(required(ds, keyword, where, fix=fix))
    try:
        values = tuple(float(v) for v in raw)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {attribute_label(keyword)} = {raw!r} is not a list of numbers; "
                         f"{fix}") from exc
    if count is not None and len(values) != count:
        raise InputError(f"{where}: {attribute_label(keyword)} has {len(values)} values {list(values)} "
                         f"(expected {count}); {fix}")
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise InputError(f"{where}: {attribute_label(keyword)} holds a non-finite value ({bad[0]!r}); {fix}")
    return values


def required_int(ds: Dataset, keyword: str, where: str, *, minimum: int, fix: str) -> int:
    """A Type 1 integer attribute (IS/US) ≥ ``minimum``.

    A value with a fraction is refused, never truncated: pydicom reads an IS of ``"5.9"`` as a float
    (``ISfloat``, with a warning) that ``int()`` would silently make 5 fractions.
    """
    value = required(ds, keyword, where, fix=fix)
    try:
        number = int(value)
        whole = not isinstance(value, float) or float(value) == number
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{where}: {attribute_label(keyword)} = {value!r} is not a whole number; "
                         f"{fix}") from exc
    if not whole:
        raise InputError(f"{where}: {attribute_label(keyword)} = {str(value)!r} is not a whole number (it "
                         f"would be read as {number}); {fix}")
    if number < minimum:
        raise InputError(f"{where}: {attribute_label(keyword)} = {number} (must be >= {minimum}); {fix}")
    return number


def optional_int(ds: Dataset, keyword: str, where: str, *, minimum: int) -> Optional[int]:
    """An integer attribute ≥ ``minimum``, None when absent or empty (Type 2/3)."""
    if _is_empty(ds.get(keyword)):
        return None
    return required_int(ds, keyword, where, minimum=minimum,
                        fix=f"correct {keyword} or leave it empty in the export")


def sequence_items(ds: Dataset, keyword: str) -> Sequence[Dataset]:
    """The items of a sequence attribute, an empty tuple when absent or empty."""
    value = ds.get(keyword)
    return () if value is None else tuple(value)
