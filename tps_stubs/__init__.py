"""Stand-ins for the treatment planning systems, for offline tests (not shipped in the wheel).

Planned (not implemented yet): ``esapi`` (C# assemblies shaped like ESAPI, built with Mono),
``raystation`` (a ``connect`` module with RaySearch's semantics), ``patients`` and a
deterministic stand-in planner.
"""
