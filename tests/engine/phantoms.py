"""Analytic phantoms shared by the geometry tests: contours, dose fields and closed forms.

Every closed form is written out next to the function that evaluates it.
"""

from __future__ import annotations

import math
from typing import Callable, List, Sequence, Tuple

import numpy as np

from reirrad.dose import DoseGrid
from reirrad.dvh import DVH
from reirrad.structures import Occupancy

Field = Callable[[np.ndarray], np.ndarray]


def circle(centre_xy: Tuple[float, float], radius: float, z: float, n_points: int = 256) -> np.ndarray:
    """A closed polygon of ``n_points`` on a circle (area factor n/(2π)·sin(2π/n) ≈ 1 − 1e-4)."""
    t = np.linspace(0.0, 2.0 * math.pi, n_points, endpoint=False)
    return np.column_stack([centre_xy[0] + radius * np.cos(t), centre_xy[1] + radius * np.sin(t),
                            np.full(n_points, z)])


def sphere_contours(centre: Sequence[float], radius: float, plane_spacing: float,
                    phase: float = 0.0) -> List[np.ndarray]:
    """Axial circles of a sphere on planes z = centre_z + phase + m·spacing inside the sphere."""
    out = []
    m_max = int(radius / plane_spacing) + 2
    for m in range(-m_max, m_max + 1):
        dz = phase + m * plane_spacing
        if abs(dz) < radius:
            out.append(circle((centre[0], centre[1]), math.sqrt(radius**2 - dz**2), centre[2] + dz))
    return out


def slab_model_sphere_volume_mm3(radius: float, plane_spacing: float, phase: float = 0.0) -> float:
    """Volume the slab model gives for :func:`sphere_contours`: Σ π·ρ_m²·Δ over the planes
    (uniform spacing, so every slab is one spacing thick, end caps half a spacing each side)."""
    m_max = int(radius / plane_spacing) + 2
    total = 0.0
    for m in range(-m_max, m_max + 1):
        dz = phase + m * plane_spacing
        if abs(dz) < radius:
            total += math.pi * (radius**2 - dz**2) * plane_spacing
    return total


def cylinder_contours(centre: Sequence[float], radius: float, half_length: float,
                      plane_spacing: float) -> List[np.ndarray]:
    """Axial circles on planes placed so that the slabs cover exactly [z_c − L, z_c + L]."""
    n_planes = round(2 * half_length / plane_spacing)
    return [circle((centre[0], centre[1]), radius,
                   centre[2] - half_length + (m + 0.5) * plane_spacing) for m in range(n_planes)]


def grid_with_field(shape: Tuple[int, int, int], origin: Sequence[float], spacing: Sequence[float],
                    field: Field, direction: np.ndarray = None) -> DoseGrid:  # type: ignore[assignment]
    """A DoseGrid whose voxel-centre values are ``field`` evaluated at the centres."""
    geometry = DoseGrid(np.zeros(shape), origin, spacing, direction)
    values = np.stack([field(geometry.voxel_centres_mm(k)).reshape(shape[1:]) for k in range(shape[0])])
    return DoseGrid(values, origin, spacing, direction)


def bisect(fn: Callable[[float], float], lo: float, hi: float) -> float:
    """Root of a monotone function on [lo, hi] to 1e-12."""
    f_lo = fn(lo)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (fn(mid) > 0) == (f_lo > 0):
            lo, f_lo = mid, fn(mid)
        else:
            hi = mid
    return 0.5 * (lo + hi)


# --- sphere of radius r in D = a + g·(x − x_c) -----------------------------------------
def sphere_gradient_d_at_volume(a: float, g: float, r: float, v_mm3: float) -> float:
    """Hottest v is a cap of height h with π·h²·(3r − h)/3 = v; D_v = a + g·(r − h)."""
    h = bisect(lambda h: math.pi * h * h * (3 * r - h) / 3.0 - v_mm3, 0.0, 2.0 * r)
    return a + g * (r - h)


# --- cylinder radius R, length 2L along z, in D = a + g·(x − x_c) -----------------------
def cylinder_gradient_d_at_volume(a: float, g: float, radius: float, half_length: float,
                                  v_mm3: float) -> float:
    """Hottest v is the slab x ≥ X: 2L·(R²·acos(X/R) − X·√(R² − X²)) = v; D_v = a + g·X."""
    def segment(x: float) -> float:
        return 2 * half_length * (radius**2 * math.acos(x / radius) - x * math.sqrt(radius**2 - x**2))
    x_v = bisect(lambda x: segment(x) - v_mm3, -radius, radius)
    return a + g * x_v


# --- sphere radius r in a radial Gaussian D = D0·exp(−ρ²/(2σ²)) centred on it -------------
def gaussian_sphere_d_at_volume(d0: float, sigma: float, v_mm3: float) -> float:
    """Hottest v is the inner ball ρ ≤ (3v/(4π))^(1/3); D_v = D0·exp(−ρ_v²/(2σ²))."""
    rho = (3.0 * v_mm3 / (4.0 * math.pi)) ** (1.0 / 3.0)
    return d0 * math.exp(-rho * rho / (2 * sigma * sigma))


def gaussian_sphere_mean(d0: float, sigma: float, r: float) -> float:
    """Mean = (3/r³)·∫₀ʳ D0·e^(−ρ²/2σ²)·ρ² dρ
    = 3·D0·σ²/r³ · [σ·√(π/2)·erf(r/(σ√2)) − r·e^(−r²/2σ²)]."""
    return 3 * d0 * sigma**2 / r**3 * (sigma * math.sqrt(math.pi / 2) * math.erf(r / (sigma * math.sqrt(2)))
                                        - r * math.exp(-r * r / (2 * sigma * sigma)))


def metrics_from_parts_and_from_samples(grid: DoseGrid, occupancy: Occupancy,
                                        volumes_cc: Sequence[float]) -> Tuple[List[float], List[float]]:
    """The metrics of ``DVH.from_dose(grid, occupancy)`` read two ways (reirrad.dvh):

    * from a fresh DVH, without its samples laid end to end (volume, Dmean, Dmax and Dmin from the
      samples kept by kind; D_v from the samples above a dose, in the voxels that can reach it);
    * from a DVH built from every sample of that structure (``DVH(doses_gy, volumes_cc)``).

    Each list: [volume cm³, Dmean, Dmax, Dmin, D_v for each of ``volumes_cc``] (Gy).
    """
    lazy = DVH.from_dose(grid, occupancy)
    read = [lazy.volume_cc, lazy.mean_gy, lazy.max_gy, lazy.min_gy,
            *(lazy.dose_at_volume_cc(v) for v in volumes_cc)]
    every_sample = DVH.from_dose(grid, occupancy)
    full = DVH(every_sample.doses_gy, every_sample.volumes_cc)
    from_samples = [full.volume_cc, full.mean_gy, full.max_gy, full.min_gy,
                    *(full.dose_at_volume_cc(v) for v in volumes_cc)]
    return read, from_samples
