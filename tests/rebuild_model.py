#!/usr/bin/env python3
# rebuild_model.py -- a model rebuilt from GET /v1/models/{id}/weights alone, in numpy,
# independent of the service's engine: the scaler, then each layer of the definition in
# order with its tensors, then the label scaler undone. tests/test_api_predict.c runs it
# and holds its outputs against /predict's.
#
# usage: rebuild_model.py WEIGHTS.json ROWS.json
#   WEIGHTS.json  the export, as the service answered it
#   ROWS.json     {"columns": [names...], "rows": [[raw values...], ...]}: the rows in
#                 any order of columns, matched to the model's by name
# Prints {"outputs": [[...], ...]} on stdout.
import json
import sys

import numpy as np


def activate(x, name, alpha):
    if name == 'linear':
        return x
    if name == 'step':
        return (x > 0).astype(x.dtype)
    if name == 'sigmoid':
        return 1.0 / (1.0 + np.exp(-x))
    if name == 'tanh':
        return np.tanh(x)
    if name == 'relu':
        return np.maximum(x, 0.0)
    if name == 'leaky_relu':
        return np.where(x > 0, x, alpha * x)
    if name == 'softmax':
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise SystemExit('unknown activation ' + name)


def run(layers, base, x, t):
    """The layers of a definition (at pointer base) applied to x; t maps (pointer, name)
    to a tensor."""
    for i, layer in enumerate(layers):
        at = '%s/layers/%d' % (base, i)
        kind = layer['type']
        if kind == 'dense':
            x = x @ t[at, 'kernel'].T + t[at, 'bias']
            x = activate(x, layer['activation'], layer.get('alpha', 0.01))
        elif kind == 'activation':
            x = activate(x, layer['activation'], layer.get('alpha', 0.01))
        elif kind == 'dropout':
            pass   # only in training
        elif kind == 'batchnorm':
            x = ((x - t[at, 'moving_mean']) / np.sqrt(t[at, 'moving_variance'] + layer['epsilon'])
                 * t[at, 'gamma'] + t[at, 'beta'])
        elif kind == 'residual':
            x = x + run(layer['layers'], at, x, t)
        else:
            raise SystemExit('unknown layer ' + kind)
    return x


def main():
    with open(sys.argv[1]) as f:
        w = json.load(f)
    with open(sys.argv[2]) as f:
        given = json.load(f)
    # the model's columns, in its order, taken by name from the rows given
    order = [given['columns'].index(c) for c in w['columns']]
    x = np.array(given['rows'], dtype=np.float64)[:, order]
    if w['scaler'] is not None:
        x = (x - np.array(w['scaler']['mean'])) / np.array(w['scaler']['std'])
    # a tensor of one row comes flat: its shape says what it is
    t = {(v['layer'], v['name']): np.array(v['values'], dtype=np.float64).reshape(v['shape'])
         for v in w['tensors']}
    y = run(w['network']['layers'], '', x, t)
    if w['label_scaler'] is not None:   # labels standardized in training: back to their units
        y = y * np.array(w['label_scaler']['std']) + np.array(w['label_scaler']['mean'])
    json.dump({'outputs': y.tolist()}, sys.stdout)


main()
