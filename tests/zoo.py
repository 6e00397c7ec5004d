"""Cells written with the step-function front end, one per kind of operation it accepts
(shared by the sheet and unrolled-check tests)."""
from bptt import (cell, cross_entropy, elu, exp, leaky_relu, log, relu, sigmoid, softmax,
                  softplus, softsign, squared_error, tanh)


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


@cell(description="LSTM with a projection of size P")
def lstmp(x, h: "P", c, W_i, U_i, b_i, W_f, U_f, b_f, W_g, U_g, b_g, W_o, U_o, b_o, W_r):
    i = sigmoid(W_i @ x + U_i @ h + b_i)
    f = sigmoid(W_f @ x + U_f @ h + b_f)
    g = tanh(W_g @ x + U_g @ h + b_g)
    o = sigmoid(W_o @ x + U_o @ h + b_o)
    c = f * c + i * g
    h = W_r @ (o * tanh(c))
    return h


@cell(inputs=("x", "u"), description="two input sequences")
def two_inputs(x, u: "J", h, W, V, U):
    h = sigmoid(W @ x + V @ u + U @ h)
    return h


ZOO = [divide, activations, elman, regression, lstmp, two_inputs]
