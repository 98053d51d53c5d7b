"""Keras' RMSprop with its time-based learning-rate ``decay``, for paper samplerob's small CNN.

Paper samplerob, appendix C.1: the small CNN "was compiled using the RMSprop optimizer with
learning rate 1e-4 and decay of 1e-6" (the Keras ``cifar10_cnn`` example,
``keras.optimizers.RMSprop(lr=0.0001, decay=1e-6)``). Keras 2 applies ``decay`` per update:

    lr_t = lr / (1 + decay * t),   t = number of updates done so far (0 for the first),
    a_t  = rho * a_{t-1} + (1 - rho) * g^2,   p <- p - lr_t * g / (sqrt(a_t) + epsilon),

with Keras' defaults rho = 0.9 and epsilon = 1e-7 (``K.epsilon()``). The update itself is
PyTorch's RMSprop (``alpha`` = rho, epsilon added after the square root, as in Keras); this
class only sets ``lr_t`` before each step. The update count is kept in the parameter groups,
so it is saved and restored with the optimizer state (a resumed run continues the decay).
"""

from __future__ import annotations

import torch


class KerasRMSprop(torch.optim.RMSprop):
    """RMSprop with Keras 2's per-update ``lr / (1 + decay * iterations)`` (module docstring)."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        rho: float = 0.9,
        eps: float = 1e-7,
        decay: float = 0.0,
        weight_decay: float = 0.0,
    ):
        if decay < 0:
            raise ValueError(f"decay must be >= 0, got {decay}")
        super().__init__(params, lr=lr, alpha=rho, eps=eps, weight_decay=weight_decay)
        for group in self.param_groups:
            group.setdefault("keras_lr", lr)
            group.setdefault("keras_decay", float(decay))
            group.setdefault("keras_iterations", 0)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            group["lr"] = group["keras_lr"] / (
                1.0 + group["keras_decay"] * group["keras_iterations"]
            )
        loss = super().step(closure)
        for group in self.param_groups:
            group["keras_iterations"] += 1
        return loss


class KerasKernelL2Adam(torch.optim.Adam):
    """Adam with the Keras ``cifar10_resnet`` example's ``kernel_regularizer=l2(kernel_l2)`` on
    every convolution kernel, for paper samplerob's ResNet-56 (appendix C.1, "taken directly from the
    Keras homepage").

    Keras adds ``kernel_l2 * sum(W^2)`` to the loss for each conv kernel W (not for biases, BN
    parameters or the dense layer); its gradient ``2 * kernel_l2 * W`` enters Adam's moments like
    the data gradient, which is PyTorch's coupled ``weight_decay = 2 * kernel_l2`` applied to
    those tensors only. Conv kernels are recognised as the 4-d parameters (in this model every
    4-d parameter is a conv kernel, including the 1x1 shortcut projections). ``eps`` defaults to
    Keras' 1e-7; Keras adds it to sqrt(v_t) before the bias correction of the step size, PyTorch
    after it, a difference of order eps in the denominator.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-7,
        kernel_l2: float = 0.0,
        weight_decay: float = 0.0,
    ):
        if kernel_l2 < 0:
            raise ValueError(f"kernel_l2 must be >= 0, got {kernel_l2}")
        if weight_decay:
            raise ValueError(
                "KerasKernelL2Adam regularizes conv kernels through kernel_l2; leave weight_decay at 0"
            )
        params = list(params)
        if params and isinstance(params[0], dict):
            raise ValueError(
                "KerasKernelL2Adam builds its own parameter groups; pass the parameters"
            )
        kernels = [p for p in params if p.dim() == 4]
        others = [p for p in params if p.dim() != 4]
        groups = [
            g
            for g in (
                {"params": kernels, "weight_decay": 2.0 * kernel_l2},
                {"params": others, "weight_decay": 0.0},
            )
            if g["params"]
        ]
        super().__init__(groups, lr=lr, betas=tuple(betas), eps=eps)
