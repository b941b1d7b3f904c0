"""The label palette stays readable for colour-blind students (Machado et al. 2009 simulation)."""

from __future__ import annotations

import numpy as np
import pytest
from plotly.colors import qualitative

from vae_core.views.colour import min_delta_e, rgb, simulate, to_lab
from vae_core.views.style import PALETTE

THRESHOLD = 15.0  # ΔE*ab between the closest two classes; T10 had 1.7 under deuteranopia
DEFICIENCIES = [None, "deuteranopia", "protanopia", "tritanopia"]


def test_the_colour_science_matches_known_values():
    assert np.allclose(to_lab(rgb(["#FFFFFF", "#000000"])), [[100, 0, 0], [0, 0, 0]], atol=0.01)
    assert np.allclose(to_lab(rgb(["#FF0000"]))[0], [53.24, 80.09, 67.20], atol=0.05)  # sRGB red
    grey = rgb(["#777777"])
    for deficiency in DEFICIENCIES[1:]:
        assert np.allclose(simulate(grey, deficiency), grey, atol=0.01)  # greys stay grey
    red_green = simulate(rgb(["#E45756", "#54A24B"]), "deuteranopia")
    assert np.linalg.norm(to_lab(red_green[0]) - to_lab(red_green[1])) < 3  # the classic confusion


@pytest.mark.parametrize("deficiency", DEFICIENCIES)
def test_the_palette_keeps_every_pair_of_classes_apart(deficiency):
    assert len(PALETTE) >= 10  # MNIST's ten digits
    distance, i, j = min_delta_e(PALETTE[:10], deficiency)
    assert distance > THRESHOLD, f"classes {i} and {j}: ΔE {distance:.1f} under {deficiency}"


def test_the_old_palette_fails_the_same_check():
    """Plotly's T10, the palette before: classes 2 and 4 merge under deuteranopia, 7 and 9 under protanopia."""
    assert min_delta_e(qualitative.T10, "deuteranopia")[1:] == (2, 4)
    assert min_delta_e(qualitative.T10, "deuteranopia")[0] < THRESHOLD
    assert min_delta_e(qualitative.T10, "protanopia")[1:] == (7, 9)
