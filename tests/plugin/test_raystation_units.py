"""The RayStation adapter's unit conversions, version table and module boundaries (no stand-in needed).

Sources of truth: docs/reference/raystation.md §14.1 (cGy and cm everywhere), §1.1 / §12 / §7.3 / §11.3
(version renames), docs/reference/style.md §3 practices 1, 4 and 13 (one conversion module; only the entry
module
touches the scripting module's globals).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reirrad.errors import InputError, UnitError
from reirrad_tps.raystation import units, versions

PACKAGE = Path(units.__file__).resolve().parent


def test_dose_conversions_are_exact_factors_of_100() -> None:
    """§14.1: RayStation doses are cGy; 4500 cGy is 45 Gy and back."""
    assert units.gy_from_cgy(4500.0) == 45.0
    assert units.cgy_from_gy(45.0) == 4500.0
    assert type(units.cgy_from_gy(np.float64(1.5))) is float  # RayStation wants Python floats (§14.4)
    assert units.dose_gy(250.0, "cGy") == 2.5 and units.dose_gy(2.5, "Gy") == 2.5
    np.testing.assert_array_equal(units.dose_array_gy(np.array([[100, 4500]]), "cGy"), [[1.0, 45.0]])


@pytest.mark.parametrize("unit", ["%", "Percent", "Unknown", "cgy", "", "mGy"])
def test_unknown_dose_units_are_refused(unit: str) -> None:
    """docs/reference/style.md §3 practice 4: a unit that cannot be converted safely raises UnitError."""
    with pytest.raises(UnitError, match=re.escape(repr(unit))):
        units.dose_gy(1.0, unit)
    with pytest.raises(UnitError):
        units.dose_array_gy([1.0], unit)


def test_length_conversions_and_points() -> None:
    """§14.1: RayStation lengths are cm; points are {'x','y','z'} dicts in cm."""
    assert units.mm_from_cm(0.25) == 2.5
    assert units.length_mm(1.0, "cm") == 10.0 and units.length_mm(1.0, "mm") == 1.0
    with pytest.raises(UnitError):
        units.length_mm(1.0, "inch")
    assert units.point_mm_from_cm({"x": -1.0, "y": 0.5, "z": 2.0}) == (-10.0, 5.0, 20.0)
    contour = units.points_mm_from_cm([{"x": 1.0, "y": 2.0, "z": 3.0}, {"x": 1.5, "y": 2.0, "z": 3.0}])
    np.testing.assert_array_equal(contour, [[10.0, 20.0, 30.0], [15.0, 20.0, 30.0]])
    with pytest.raises(InputError):
        units.point_mm_from_cm({"x": 1.0, "y": 2.0})
    assert units.cm_from_mm(3.0) == pytest.approx(0.3) and type(units.cm_from_mm(np.float64(3.0))) is float
    written = units.points_cm_from_mm(np.array([[10.0, 20.0, 30.0], [15.0, 20.0, 30.0]]))
    assert written == [{"x": 1.0, "y": 2.0, "z": 3.0}, {"x": 1.5, "y": 2.0, "z": 3.0}]
    assert all(type(v) is float for p in written for v in p.values())
    np.testing.assert_array_equal(units.points_mm_from_cm(written), [[10.0, 20.0, 30.0], [15.0, 20.0, 30.0]])
    with pytest.raises(InputError):
        units.points_cm_from_mm(np.array([[1.0, 2.0]]))
    with pytest.raises(InputError, match="finite"):
        units.mm_from_cm(float("nan"))
    with pytest.raises(InputError):
        units.gy_from_cgy(True)


def test_registration_translation_is_scaled_rotation_is_not() -> None:
    """§8 (4×4 transforms with translations in cm): only the translation column becomes mm."""
    t_cm = np.eye(4)
    t_cm[:3, :3] = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    t_cm[:3, 3] = [0.6, -0.4, 1.2]
    t_mm = units.matrix_mm_from_cm(t_cm)
    np.testing.assert_array_equal(t_mm[:3, :3], t_cm[:3, :3])
    np.testing.assert_allclose(t_mm[:3, 3], [6.0, -4.0, 12.0])
    np.testing.assert_array_equal(units.matrix_mm_from_cm(t_cm.ravel()), t_mm)
    with pytest.raises(InputError, match="last row"):
        units.matrix_mm_from_cm(np.ones((4, 4)))


def test_version_table_rows() -> None:
    """§1.1: the accepted releases and the scripting module each one imports; the table holds no call
    spelling any more (every version-dependent call is feature-detected,
    reirrad_tps.raystation.call_forms)."""
    v11a, v24, v25 = (versions.profile(v) for v in ("11A", "2024B", "2025"))
    assert v11a.python == "3.8" and v24.python == "3.11"
    assert v24.module_names == ("connect",) and v25.module_names == ("raystation", "connect")
    assert not v25.confirmed and v24.confirmed
    assert versions.VERSIONS == ("11A", "11B", "12A", "2024B", "2025")
    assert not {"add_prescription", "scaling", "map_dose_keywords"} & set(vars(v24))
    with pytest.raises(InputError, match="'10B' is not supported"):
        versions.profile("10B")


def test_only_units_converts_and_only_entry_touches_the_scripting_globals() -> None:
    """docs/reference/style.md §3 practices 4 and 13: no /100 or *10 outside units.py; get_current & co only
    in entry.py."""
    globals_used = re.compile(r"\b(get_current|CompositeAction|set_progress|is_gui_disabled)\s*\(")
    scaling = re.compile(r"[*/]\s*(100|10)(\.0*)?\b")
    for path in sorted(PACKAGE.glob("*.py")):
        code = "\n".join(line.split("#")[0] for line in path.read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith(("#", '"', "'")))
        if path.name != "entry.py":
            assert not globals_used.search(code), path.name
        if path.name != "units.py":
            assert not scaling.search(code), path.name
        assert "import connect" not in code and "from connect" not in code, path.name


def test_importing_the_adapter_does_not_import_raystation() -> None:
    """docs/reference/style.md §3 practice 1: the scripting module is imported inside entry functions only."""
    code = ("import sys, reirrad_tps.raystation as r; "
            "assert 'connect' not in sys.modules and 'raystation' not in sys.modules; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
