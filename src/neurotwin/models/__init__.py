"""Deep-network twins: pure nn.Modules and their registry (no training code).

    >>> import neurotwin
    >>> from neurotwin import models
    >>> cell = neurotwin.cells.preset("cable_nmda")
    >>> twin = models.build("tcn", "B", **models.for_cell(cell))
    >>> heads = twin(x)                  # x (B, 2, 8, T) → {"spike": (B, 1, T), …}
    >>> probs_and_mV = twin.predict(x)
    >>> ckpt = {"spec": twin.spec(), "state_dict": twin.state_dict()}
    >>> twin2 = models.from_spec(ckpt["spec"]); twin2.load_state_dict(ckpt["state_dict"])
    >>> streamer = twin.stream(batch_size=1); streamer.step(x[..., 0])

Registered twins: tcn, resnet_tcn, fcn, linear, elm, elm_branch, lstm, gru, rnn, transformer
(``names()``; ``registry_table(cell)`` lists every preset with its size and receptive field).
"""

# isort: off
# Importing a model module registers its twins; this order is the order of `neurotwin models`.
from neurotwin.models import tcn, fcn, linear, elm, rnn, transformer  # noqa: F401

# isort: on
from neurotwin.models.base import HEADS, Scaling, Twin, TwinConfig
from neurotwin.models.export import export_onnx, export_torchscript
from neurotwin.models.registry import (
    build,
    config_from_dict,
    for_cell,
    from_spec,
    get,
    names,
    registry_table,
)
from neurotwin.models.streaming import Streamer

__all__ = [
    "HEADS",
    "Scaling",
    "Streamer",
    "Twin",
    "TwinConfig",
    "build",
    "config_from_dict",
    "export_onnx",
    "export_torchscript",
    "for_cell",
    "from_spec",
    "get",
    "names",
    "registry_table",
]
