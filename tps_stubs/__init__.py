"""Stand-ins for the treatment planning systems, so every path runs and is tested offline.

* ``tps_stubs.patients`` — stub patients: YAML definitions built into a neutral model.
* ``tps_stubs.planner`` — a deterministic stand-in for TPS optimisation and dose calculation.
* ``tps_stubs.raystation`` — a ``connect`` module with RaySearch's semantics (``load(patient, version)``).
* ``tps_stubs.esapi`` — C# assemblies shaped like ESAPI, built with Mono, loaded through pythonnet
  (``load_context(patient, dose_unit)``).
"""
