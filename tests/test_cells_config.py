"""Cell presets and configs: names, overrides, validation, round trips."""

from __future__ import annotations

import pytest

from neurotwin.cells import BallAndStickConfig, from_dict, preset, preset_names


def test_presets_follow_the_spec():
    point, cable = preset("point_ampa"), preset("cable_nmda")
    assert (point.dend_L_um, point.dend_diam_um, point.synapse) == (128.0, 4.0, "ampa")
    assert (cable.dend_L_um, cable.dend_diam_um, cable.synapse) == (2048.0, 1.0, "nmda_human")
    for c in (point, cable):
        assert (c.num_segments, c.ske2_factor, c.rho_factor, c.dt_ms) == (8, 0.0, 1.0, 0.025)
        assert (c.soma_cap_mV, c.dend_cap_mV, c.inst_rate_sigma_ms) == (-62.0, 0.0, 2.5)
    assert cable.length_constant_um == pytest.approx(577.35, abs=0.01)
    assert point.length_constant_um == pytest.approx(1154.70, abs=0.01)


def test_overrides_and_round_trip():
    c = preset("cable_nmda", ske2_factor=1.0, synapse="nmda_rodent", num_segments=64)
    assert isinstance(c, BallAndStickConfig)
    assert (c.ske2_factor, c.synapse, c.num_segments, c.input_shape) == (
        1.0,
        "nmda_rodent",
        64,
        (2, 64),
    )
    assert from_dict(c.to_dict()) == c


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        preset("pyramidal")
    for name in preset_names():
        assert name in str(err.value)


def test_unknown_field_lists_valid_fields():
    with pytest.raises(ValueError, match="unknown BallAndStickConfig field.*dend_L_um"):
        preset("point_ampa", dend_length=3)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("dend_diam_um", -1.0, "dend_diam_um must be > 0, got -1.0"),
        ("num_segments", 0, "num_segments"),
        ("synapse", "gaba", "synapse must be one of ampa, nmda_rodent, nmda_human"),
        ("ske2_factor", -0.5, "ske2_factor must be >= 0"),
        ("dt_ms", 0.03, "dt_ms must divide 1 ms"),
    ],
)
def test_validation_names_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        preset("cable_nmda", **{field: value})


def test_configs_are_frozen():
    c = preset("point_ampa")
    with pytest.raises(AttributeError):
        c.dend_L_um = 3.0  # type: ignore[misc]
