#!/usr/bin/env python3
"""Real Keras exports for the importer's corpus (models/corpus/, merged into corpus.json).

Keras 3's `model.export(path, format="onnx")` (through tf2onnx) writes NHWC models with their
own patterns: a flatten computes its shape from the tensor before a transpose, in int32; an
`UpSampling2D` is an `Unsqueeze`, a `Tile` and a `Reshape` per axis; a `Conv2DTranspose` sits
between transposes. Each model is trained here on sklearn's 8x8 digits (or, for the series
models, a seeded random walk) and saved with onnxruntime's labels or outputs on held-back rows,
which `the_corpus_imports_and_agrees_with_onnxruntime_or_is_refused_by_name` checks.

Needs TensorFlow and tf2onnx, which the rest of the project does not:
  python3 -m venv /tmp/keras && /tmp/keras/bin/pip install tensorflow-cpu tf2onnx onnx onnxruntime scikit-learn
  /tmp/keras/bin/python scripts/keras_exports.py
Written with TensorFlow 2.21.0 (Keras 3.15) and tf2onnx 1.17.0. CI reads the committed files only.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers as L  # noqa: E402

from framework_corpus import HELD_BACK, OUT, data, merge, record  # noqa: E402


def cnn(x):
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    return L.Dense(10)(L.Flatten()(L.MaxPooling2D(2)(x)))


def separable(x):
    x = L.SeparableConv2D(16, 3, activation="relu")(x)
    return L.Dense(10)(L.Flatten()(L.AveragePooling2D(2)(x)))


def upsample(x):
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2D(8, 3, padding="same", activation="relu")(L.UpSampling2D()(x))
    return L.Dense(10)(L.Flatten()(L.MaxPooling2D(2)(x)))


def deconv(x):
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(x)
    return L.Dense(10)(L.Flatten()(x))


def series(x):
    x = L.Conv1D(8, 3, dilation_rate=2, activation="relu")(x)
    return L.Dense(1)(L.GlobalMaxPooling1D()(x))


def lstm(x):
    return L.Dense(1)(L.LSTM(8)(x))


# name: (model, input shape, data, refused op or None)
MODELS = {
    "keras_cnn_flatten": (cnn, (8, 8, 1), "digits", None),
    "keras_separable_cnn": (separable, (8, 8, 1), "digits", None),
    "keras_upsampling": (upsample, (8, 8, 1), "digits", None),
    "keras_conv_transpose": (deconv, (8, 8, 1), "digits", None),
    "keras_conv1d_series": (series, (16, 2), "series", None),
    "keras_lstm": (lstm, (16, 1), "series", "LSTM"),
}


def main():
    added = []
    for name, (build, shape, kind, refused) in MODELS.items():
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        keras.utils.set_random_seed(0)
        x, y = data(kind, int(np.prod(shape)), np.random.default_rng(5))
        inputs = keras.Input(shape)
        model = keras.Model(inputs, build(inputs))
        xt = x.reshape(len(x), *shape)
        if kind == "digits":
            model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        else:
            model.compile(optimizer="adam", loss="mse")
        model.fit(xt[:HELD_BACK], y[:HELD_BACK], epochs=30, batch_size=64, verbose=0)
        path = os.path.join(OUT, f"{name}.onnx")
        model.export(path, format="onnx", verbose=False)
        added.append(record(name, kind, path, x, y, shape, refused))
    merge(added)


if __name__ == "__main__":
    main()
