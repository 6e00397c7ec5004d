"""Cells written with the step-function front end, one per kind of operation it accepts
(shared by the sheet and unrolled-check tests; lstmp is the kernel tests' own)."""
from bptt import (cell, cross_entropy, elu, exp, leaky_relu, log, relu, sigmoid, softmax,
                  softplus, softsign, squared_error, tanh)
from kernel_cells import lstmp


@cell(description="division by compound expressions")
def divide(x, h, W, U, b):
    a = W @ x + U @ h + b
    h = a / (1 + a * a) + h / (2 + exp(a))
    return h


@cell(description="every built-in activation")
def activations(x, h, W, U, b):
    h_tilde = relu(W @ x + b) * leaky_relu(U @ h) + softplus(W @ x) - elu(U @ h)
    h = softsign(h_tilde) + log(sigmoid(h_tilde)) + tanh(h) ** 2
    return h


@cell(description="Elman + softmax + cross-entropy")
def elman(x, z, h, W, U, b, V, c):
    h = tanh(W @ x + U @ h + b)
    a = V @ h + c
    y = softmax(a)
    loss = cross_entropy(y, z)
    return y


@cell(description="regression with a squared error, output of size K")
def regression(x, z, h, W, U, V: ("K", "H")):
    h = tanh(W @ x + U @ h)
    y = V @ h
    loss = squared_error(y, z)
    return y


@cell(inputs=("x", "u"), description="two input sequences")
def two_inputs(x, u: "J", h, W, V, U):
    h = sigmoid(W @ x + V @ u + U @ h)
    return h


ZOO = [divide, activations, elman, regression, lstmp, two_inputs]
