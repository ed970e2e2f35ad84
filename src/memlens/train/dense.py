"""The stacked MLP's training gradients, written out by hand instead of traced by autograd.

For the ensemble's dense models (``linear`` and ``mlp`` of any depth) the backward pass is a
handful of batched matrix products, and writing it out lets each step skip autograd's graph and
do less memory traffic around the products, which is where a step of small models spends its
time on a CPU:

- the softmax runs class-major, (M, C, B): PyTorch's CPU softmax over a last axis of 10 classes
  is scalar code (~1 ms for 64 models × 128 examples); along the contiguous batch axis, written
  as max, exp and sum, it is vectorized and ~3× faster;
- the first layer's bias rides in its weight matrix against a column of ones appended to the
  inputs, so its gradient comes out of the weight gradient's product instead of a separate
  reduction over the (M, B, units) activations;
- ReLU's backward is ``threshold_backward`` (a boolean-mask fill is ~30× slower on CPU).

The gradients equal autograd's of the same loss (tests/test_train.py compares them).
"""

from __future__ import annotations

import torch


class DenseGradients:
    """Writes the gradient of Σₘ Σᵦ scale[m, b] · cross-entropy(model m on example idx[m, b]) into ``p.grad``.

    ``params`` are the stacked ``[W₀, b₀, W₁, b₁, …]`` with ``W`` (M, in, out) and ``b`` (M, 1, out);
    ``X`` (N, D) the standardized pool, kept here once in ``dtype``, the precision the matrix
    products run in (float32, or bfloat16 as autocast would run them). Gradients land in float32
    in the existing ``p.grad`` buffers, which the optimizer holds views of.
    """

    def __init__(self, params: list[torch.Tensor], X: torch.Tensor, dtype: torch.dtype):
        self.params, self.dtype = params, dtype
        self.layers = len(params) // 2 - 1  # hidden layers
        if self.layers:  # inputs with a column of ones, and room for [W₀; b₀] in dtype
            self.X = _with_ones(X).to(dtype)
            m, d, units = params[0].shape
            self.first = torch.empty(m, d + 1, units, device=X.device, dtype=dtype)
        else:
            self.X = X.to(dtype)

    @torch.no_grad()
    def __call__(self, idx: torch.Tensor, y: torch.Tensor, scale: torch.Tensor) -> None:
        """``idx`` (M, B) example ids, ``y`` (M, B) their labels, ``scale`` (M, B) each loss's weight."""
        params, dtype, layers = self.params, self.dtype, self.layers
        xb = self.X[idx]
        if layers:  # [W₀; b₀], multiplied against the inputs' column of ones
            d = params[0].shape[1]
            self.first[:, :d].copy_(params[0])
            self.first[:, d:].copy_(params[1])
            first = self.first
        else:
            first = params[0].to(dtype)
        weights = [first, *(params[2 * i].to(dtype) for i in range(1, layers + 1))]
        hidden = [xb, torch.bmm(xb, first).relu_()] if layers else [xb]
        for i in range(1, layers):
            hidden.append(torch.baddbmm(params[2 * i + 1].to(dtype), hidden[-1], weights[i]).relu_())
        last = hidden[-1]
        logits = torch.baddbmm(params[-1].to(dtype), last, weights[-1])  # (M, B, C)
        # d cross-entropy / d logits = softmax − one-hot, computed classes-major, (M, C, B), so it
        # runs along the contiguous batch axis; and written out, because torch.softmax over a
        # non-last axis splits its work across threads by tensor size, so with 2 threads a model's
        # result would change in the last bit with the number of models beside it — and a model
        # must train identically whichever shard it is in (tests/test_growth.py). The products
        # keep the (M, B, C) layout autograd's would have, which MKL computes the same either way.
        grad = logits.float().transpose(1, 2).contiguous()
        grad = grad.sub_(grad.amax(1, keepdim=True)).exp_()
        grad.div_(grad.sum(1, keepdim=True))
        grad.scatter_add_(1, y.unsqueeze(1), torch.full(y.unsqueeze(1).shape, -1.0, device=grad.device))
        grad.mul_(scale.unsqueeze(1))
        params[-1].grad.copy_(grad.sum(2).unsqueeze(1))
        grad_low = grad.transpose(1, 2).contiguous().to(dtype)  # (M, B, C)
        params[-2].grad.copy_(torch.bmm(last.transpose(1, 2), grad_low))
        if not layers:
            return
        upstream = torch.bmm(grad_low, weights[-1].transpose(1, 2))  # (M, B, units)
        for i in range(layers - 1, -1, -1):
            upstream = torch.ops.aten.threshold_backward(upstream, hidden[i + 1], 0)  # through the ReLU
            product = torch.bmm(hidden[i].transpose(1, 2), upstream)
            if i:
                params[2 * i].grad.copy_(product)
                params[2 * i + 1].grad.copy_(upstream.sum(1, keepdim=True, dtype=torch.float32))
                upstream = torch.bmm(upstream, weights[i].transpose(1, 2))
            else:  # [dW₀; db₀] from one product against the inputs' column of ones
                d = params[0].shape[1]
                params[0].grad.copy_(product[:, :d])
                params[1].grad.copy_(product[:, d:])


@torch.no_grad()
def dense_logits(params: list[torch.Tensor], X: torch.Tensor, dtype: torch.dtype, *, chunk: int = 256,
                 hidden: list | None = None) -> torch.Tensor:
    """Every model's logits (M, N, C) in float32 on ``X`` (N, D), ``chunk`` examples at a time.

    Small chunks keep each layer's (M, chunk, units) activations in cache, which on a CPU is worth
    ~10× over one pass of thousands of examples. When ``hidden`` is a list, it receives each hidden
    layer's post-ReLU outputs, (M, N, units) float32 on the CPU.
    """
    layers = len(params) // 2 - 1
    m, n = params[0].shape[0], len(X)
    if layers:  # the first layer's bias rides in its weights, against a column of ones
        X, first = _with_ones(X), torch.cat([params[0], params[1]], 1).to(dtype)
    else:
        first = params[0].to(dtype)
    X = X.to(dtype)
    weights = [first, *(params[2 * i].to(dtype) for i in range(1, layers + 1))]
    biases = [params[2 * i + 1].to(dtype) for i in range(layers + 1)]
    logits = torch.empty(m, n, params[-1].shape[-1], device=X.device)
    if hidden is not None:
        hidden[:] = [torch.empty(m, n, params[2 * i].shape[-1]) for i in range(layers)]
    for start in range(0, n, chunk):
        x = X[start : start + chunk]
        a = torch.matmul(x, first) if layers else torch.baddbmm(biases[0], x.expand(m, *x.shape), first)
        for i in range(1, layers + 1):
            a = a.relu_()
            if hidden is not None:
                hidden[i - 1][:, start : start + chunk] = a
            a = torch.baddbmm(biases[i], a, weights[i])
        logits[:, start : start + chunk] = a
    return logits


def _with_ones(X: torch.Tensor) -> torch.Tensor:
    """``X`` (N, D) with a column of ones appended: (N, D + 1), for a bias carried in the weights."""
    return torch.cat([X, torch.ones(len(X), 1, device=X.device, dtype=X.dtype)], 1)
