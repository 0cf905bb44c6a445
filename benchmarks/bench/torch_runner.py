"""PyTorch eager with a hand-written training loop, as a PyTorch user writes one.

Shuffled index slicing instead of a DataLoader (whose worker and collation overheads would be the
measurement otherwise), the final softmax/sigmoid folded into ``CrossEntropyLoss`` /
``BCEWithLogitsLoss`` (the idiomatic form) and applied again for ``predict``. PyTorch's default
initialisers. Optimisers with Keras' hyper-parameters: RMSprop alpha 0.9, eps 1e-7 (PyTorch adds eps
outside the square root, Keras inside); Adam eps 1e-7. Interface: see ``keras_style``.
"""
from __future__ import annotations

import time

import numpy as np


class TorchRunner:
    """torch.nn.Sequential built from a spec, trained by ``train``'s loop."""

    def __init__(self, seed: int, device: str = "cpu"):
        import torch  # an ImportError means "not installed" to the worker

        self.torch = torch
        self.device = torch.device(device)
        torch.manual_seed(seed)
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False  # fp32 GEMMs, as axonal's cuda backend by default
            torch.backends.cudnn.allow_tf32 = False

    def _wait(self):
        """Wait for the GPU's queued work (a CUDA epoch is timed once it has run)."""
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def threads(self) -> int:
        return self.torch.get_num_threads()

    def build(self, spec, optimizer: str, learning_rate: float, metrics: bool = True):
        """The one model builder for every workload; returns (module, optimiser, loss, output activation).

        ``metrics`` is accepted for the common interface: the loop tracks the loss only.
        """
        nn = self.torch.nn
        modules, shape = [], tuple(spec.input_shape)
        if len(shape) == 3:                     # images: channels first, as torch's Conv2d wants
            shape = (shape[2], shape[0], shape[1])
        activations = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}
        for position, layer in enumerate(spec.layers):
            kind = layer[0]
            if kind == "dense":
                modules.append(nn.Linear(shape[0], layer[1]))
                shape = (layer[1],)
                if position < len(spec.layers) - 1:   # the output activation lives in the loss
                    modules.append(activations[layer[2]]())
            elif kind == "dropout":
                modules.append(nn.Dropout(layer[1]))
            elif kind == "conv":
                modules += [nn.Conv2d(shape[0], layer[1], layer[2]), activations[layer[3]]()]
                shape = (layer[1], shape[1] - layer[2] + 1, shape[2] - layer[2] + 1)
            elif kind == "maxpool":
                modules.append(nn.MaxPool2d(layer[1]))
                shape = (shape[0], shape[1] // layer[1], shape[2] // layer[1])
            elif kind == "flatten":
                modules.append(nn.Flatten())
                shape = (int(np.prod(shape)),)
            elif kind == "residual":  # x + Dropout(act(Linear(x)))
                modules.append(self._residual(nn.Sequential(nn.Linear(shape[0], layer[1]), activations[layer[2]](),
                                                            nn.Dropout(layer[3]))))
            else:
                raise ValueError(f"unknown layer {layer!r}")
        model = nn.Sequential(*modules).to(self.device)
        if optimizer == "rmsprop":
            opt = self.torch.optim.RMSprop(model.parameters(), lr=learning_rate, alpha=0.9, eps=1e-7)
        else:
            opt = self.torch.optim.Adam(model.parameters(), lr=learning_rate, eps=1e-7)
        if spec.binary:
            return model, opt, nn.BCEWithLogitsLoss(), self.torch.sigmoid
        return model, opt, nn.CrossEntropyLoss(), lambda logits: self.torch.softmax(logits, dim=1)

    def _residual(self, block):
        """``x + block(x)`` as a module (torch is imported by the runner, not by this file)."""
        class Residual(self.torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return x + self.inner(x)

        return Residual(block)

    def _tensor(self, x):
        """Images (N, H, W, C) become (N, C, H, W), contiguous; other arrays are shared with NumPy."""
        t = self.torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        return t.permute(0, 3, 1, 2).contiguous() if t.dim() == 4 else t

    def prepare(self, spec, x, y):
        """On cuda the whole dataset goes to the GPU once, as axonal's does."""
        return self._tensor(x), self.torch.from_numpy(np.ascontiguousarray(y)).to(self.device)

    def train(self, model, data, batch_size: int, epochs: int):
        module, opt, loss_fn, _ = model
        x, y = data
        seconds, loss_sum, steps = [], 0.0, 0
        for _ in range(epochs):
            start = time.perf_counter()
            module.train()
            order = self.torch.randperm(len(x), device=self.device)
            loss_sum, steps = 0.0, 0
            for first in range(0, len(order), batch_size):
                rows = order[first:first + batch_size]
                opt.zero_grad()
                loss = loss_fn(module(x[rows]), y[rows])
                loss.backward()
                opt.step()
                # The running loss a training loop reports; on the GPU summed there (.item() every
                # step would wait for the GPU, which a careful PyTorch user avoids).
                loss_sum += loss.detach() if self.device.type == "cuda" else loss.item()
                steps += 1
            self._wait()
            seconds.append(time.perf_counter() - start)
        return seconds, float(loss_sum) / max(steps, 1)

    def set_weights(self, model, weights: list) -> None:
        """Keras-ordered (kernel (C, K), bias) pairs into the Linear layers (weight (K, C)); dense-only specs."""
        linears = [m for m in model[0].modules() if isinstance(m, self.torch.nn.Linear)]
        if len(linears) * 2 != len(weights):
            raise ValueError(f"{len(weights)} weight arrays for {len(linears)} Linear layers")
        with self.torch.no_grad():
            for linear, kernel, bias in zip(linears, weights[::2], weights[1::2]):
                linear.weight.copy_(self.torch.from_numpy(kernel.T.copy()))
                linear.bias.copy_(self.torch.from_numpy(bias))

    def predict(self, model, x, batch_size: int):
        """Eval mode, no autograd, batches of ``batch_size``, probabilities out."""
        module, _, _, output = model
        x = self._tensor(x)
        module.eval()
        with self.torch.no_grad():
            return self.torch.cat([output(module(x[i:i + batch_size]))
                                   for i in range(0, len(x), batch_size)]).cpu().numpy()
