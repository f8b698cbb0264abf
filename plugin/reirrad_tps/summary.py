"""Plain-text summary and exit code of a result mapping (command line, Eclipse host console)."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["exit_code", "summary"]


def summary(result: Mapping[str, Any]) -> str:
    """A short, plain-text summary of a result for the terminal."""
    if result["status"] == "stopped":
        return f"STOPPED: {result['reason']}"
    lines = [f"Patient {result['patient_id']} plan {result['plan_id']}: {result['status']}, "
             f"intent {result['intent']}, prescription "
             f"{'-' if result['prescription_gy'] is None else format(result['prescription_gy'], 'g')} Gy "
             f"in {result['n_fractions']} fractions; {result['optimisations']['count']} optimisation(s)."]
    lines.append(f"{'OAR':15s} {'structure':14s} {'metric':7s} {'allowed':>8s} {'planned':>8s} "
                 f"{'cum EQD2':>9s} {'limit':>6s}  ok")

    def fmt(v: Any, w: int) -> str:
        return f"{'-':>{w}s}" if v is None else f"{v:{w}.2f}"

    for o in result["oars"]:
        lines.append(f"{o['name']:15s} {o['structure']!s:14s} {o['metric']:7s} "
                     f"{fmt(o['allowed_physical_gy'], 8)} {fmt(o.get('planned_physical_gy'), 8)} "
                     f"{fmt(o.get('cumulative_eqd2_gy'), 9)} {fmt(o.get('cumulative_limit_eqd2_gy'), 6)}  "
                     f"{o.get('passed')}")
    if result.get("target"):
        t = result["target"]
        lines.append(f"Target {t['structure']}: V95% {t['v95_pct']:.1f} %, D95 {t['d95_gy']:.2f} Gy, "
                     f"D98 {t['d98_gy']:.2f} Gy, V(BED10 >= {t['bed_threshold_gy']:g} Gy) "
                     f"{t['v_bed_threshold_pct']:.1f} %")
    if result["limiting_oars"]:
        lines.append("Limiting: " + ", ".join(result["limiting_oars"]))
    return "\n".join(lines)


def exit_code(result: Mapping[str, Any]) -> int:
    return 0 if result["status"] in ("planned", "dry-run", "evaluated") else 2
