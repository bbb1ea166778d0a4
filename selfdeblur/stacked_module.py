"""N copies of one architecture with their own weights, evaluated as one batched call.

:class:`StackedModule` takes ``N`` modules of identical structure (same parameter and buffer
names and shapes), stacks each parameter and buffer along a new leading dimension of size ``N``,
and evaluates the shared architecture once with :func:`torch.func.vmap` over that dimension. Under
``vmap`` a convolution with a batched weight runs as one grouped convolution and a linear layer as
one batched matrix product, so ``N`` small problems fill a GPU that each alone would leave idle.

Each copy is its own ``vmap`` slice: batch-normalisation statistics, running buffers and gradients
stay per copy, so the outputs equal evaluating the ``N`` modules one by one up to floating-point
summation order. Adam is elementwise, so optimising the stacked parameters is the same as
optimising the ``N`` modules with ``N`` Adam optimisers of equal settings.

Example:
    >>> nets = [nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)) for _ in range(2)]
    >>> x = torch.rand(2, 5, 3)  # input of copy i: x[i], a batch of 5
    >>> stacked = StackedModule(nets)
    >>> torch.allclose(stacked(x), torch.stack([net(xi) for net, xi in zip(nets, x)]), atol=1e-6)
    True
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap


def structure(module: nn.Module) -> tuple:
    """What must agree for modules to be stacked: type, and names, shapes and dtypes of the state."""
    state = [(n, tuple(t.shape), t.dtype) for n, t in (*module.named_parameters(), *module.named_buffers())]
    return type(module), tuple(state)


class StackedModule(nn.Module):
    """Evaluate ``N`` structurally identical modules as one (see the module docstring).

    Args:
        modules: the ``N`` modules; their current parameter and buffer values are copied.

    Shapes:
        every positional input gets a leading dimension ``N`` (input ``i`` goes to copy ``i``);
        every output gets the same leading dimension.

    Parameters are registered under their original names with ``.`` replaced by ``__`` and have
    shape ``(N, *original_shape)``; :meth:`unstacked` gives them back per copy.
    """

    _skeleton: nn.Module  # in __dict__, outside the module tree (see __init__)

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        super().__init__()
        if not modules:
            raise ValueError("StackedModule needs at least one module")
        reference = structure(modules[0])
        for i, module in enumerate(modules[1:], start=1):
            if structure(module) != reference:
                raise ValueError(f"module {i} differs in type or state shapes from module 0; they cannot be stacked")
        self.count = len(modules)
        self._param_names = [n for n, _ in modules[0].named_parameters()]
        self._buffer_names = [n for n, _ in modules[0].named_buffers()]
        for name in self._param_names:
            values = [dict(m.named_parameters())[name].detach() for m in modules]
            self.register_parameter(_key(name), nn.Parameter(torch.stack(values)))
        for name in self._buffer_names:
            values = [dict(m.named_buffers())[name] for m in modules]
            self.register_buffer(_key(name), torch.stack(values))
        # The architecture without storage; kept out of the module tree (no parameters of its own).
        self.__dict__["_skeleton"] = copy.deepcopy(modules[0]).to("meta")

    def _state(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        params = {name: getattr(self, _key(name)) for name in self._param_names}
        buffers = {name: getattr(self, _key(name)) for name in self._buffer_names}
        return params, buffers

    def _call_one(self, params: dict, buffers: dict, *inputs: Any) -> Any:
        return functional_call(self._skeleton, (params, buffers), inputs)

    def forward(self, *inputs: torch.Tensor) -> Any:
        params, buffers = self._state()
        return vmap(self._call_one)(params, buffers, *inputs)

    def unstacked(self, index: int) -> dict[str, torch.Tensor]:
        """The state of copy ``index`` under the original names (a ``state_dict`` for one module)."""
        params, buffers = self._state()
        return {name: value[index].detach() for name, value in {**params, **buffers}.items()}


def _key(name: str) -> str:
    return name.replace(".", "__")
