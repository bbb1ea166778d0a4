"""The stand-in for the LightningModule's deblurring network while an adapted batch is evaluated."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call


class AdaptedDeblurNet(nn.Module):
    r"""Stands in for ``pl_module.deblur_net`` while one batch is evaluated.

    Called with the batch's own input tensor (the same object) it returns the precomputed adapted
    output, so the LightningModule's ``test_step`` / ``predict_step`` run unchanged and no forward
    pass is repeated. Called with any other ``(N, 3, H, W)`` tensor it runs the adapted network(s):
    with ``per_image`` parameter sets, image ``i`` goes through :math:`M_D(\cdot;\theta_K^{(i)})`
    (so ``N`` must match); without, every image goes through ``net``.

    Args:
        net: an adapted copy of :math:`M_D` (per image: any copy; its adapted parameters are replaced).
        inputs, outputs: the batch input and its adapted output.
        per_image: adapted parameters of each image, by name (see :func:`adapted_parameters`), or ``None``.
    """

    def __init__(
        self,
        net: nn.Module,
        inputs: torch.Tensor,
        outputs: torch.Tensor,
        per_image: list[dict[str, torch.Tensor]] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.inputs, self.outputs, self.per_image = inputs, outputs, per_image

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images is self.inputs:
            return self.outputs
        if self.per_image is None:
            return self.net(images)
        if images.shape[0] != len(self.per_image):
            raise RuntimeError(
                f"the deblurring network was adapted to {len(self.per_image)} images of this batch; "
                f"it cannot deblur a batch of {images.shape[0]}"
            )
        return torch.cat(
            [functional_call(self.net, params, (images[i : i + 1],)) for i, params in enumerate(self.per_image)]
        )
