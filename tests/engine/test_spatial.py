"""The low-tolerance part of each OAR (reirrad.spatial, issue 20 item 3's engine part).

Sources of truth: the definition (voxel-wise remaining EQD2 below the metric method's: with one prior
course, the voxels whose prior dose exceeds the prior metric dose), the stub patient EDGE-01's definition
(the 60 Gy boost sphere centred at (-35, -5, -10) mm, radius 28 mm, lies far from the new PTV centred at
(62, 5, 52) mm), and properties that must hold (never above the metric level's allowed dose).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from reirrad.dvh import DVH
from reirrad.protocol import load_protocol
from reirrad.spatial import INSIDE, low_tolerance_regions
from reirrad.workflow import WorkflowOptions, prepare
from tps_stubs.direct import DirectCase

PROTOCOL = load_protocol("uk-sabr-pelvis-reirradiation")


@pytest.fixture(scope="module")
def edge():
    return prepare(PROTOCOL, DirectCase("EDGE-01").read(), WorkflowOptions(dry_run=True))


def test_the_small_bowels_low_tolerance_part_is_in_the_boosted_loop(edge):
    """EDGE-01: the region lies in the loop inside the 60 Gy boost (its centre within the boost sphere's
    28 mm radius of (-35, -5, -10)), far from the new PTV; every voxel of it got more than the prior
    D0.5cc, and it is no larger than the metric's volume would allow for a near-maximum metric (≤ 1 cm³)."""
    (region,) = [r for r in low_tolerance_regions(edge) if r.oar_key == "small_bowel"]
    centre = np.asarray(region.centroid_mm)
    assert np.linalg.norm(centre - np.array([-35.0, -5.0, -10.0])) < 28.0
    assert np.linalg.norm(centre - np.array([62.0, 5.0, 52.0])) > 80.0
    prior = edge.prior_courses[0].dose
    metric = DVH.from_dose(prior, edge.oar_occupancy["small_bowel"]).metric_gy(
        PROTOCOL.oar("small_bowel").de_novo.metric)
    assert np.all(np.asarray(prior.values_gy)[region.voxels] > metric)
    assert np.all(np.asarray(edge.oar_occupancy["small_bowel"].fraction)[region.voxels] >= INSIDE)
    assert 0.0 < region.volume_cc <= 1.0


def test_never_above_the_metric_level(edge):
    """Property: a region's smallest remaining EQD2 and its allowed dose never exceed the metric level's."""
    regions = low_tolerance_regions(edge)
    assert regions
    for r in regions:
        assert r.min_remaining_eqd2_gy <= r.metric_remaining_eqd2_gy
        assert r.allowed_physical_gy <= r.metric_allowed_physical_gy + 1e-9
        assert r.structure_id == edge.oar_structures[r.oar_key]


def test_no_prior_course_no_region():
    """Without prior dose there is no remaining-tolerance map, so no region."""
    snapshot = DirectCase("LRRC-01").read()
    bare = dataclasses.replace(snapshot, prior_courses=())
    prepared = prepare(PROTOCOL, bare, WorkflowOptions(dry_run=True, override_reason="test: no prior"))
    assert low_tolerance_regions(prepared) == []
