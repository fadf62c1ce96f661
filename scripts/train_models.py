#!/usr/bin/env python3
"""Trains Verdict's shipped models and exports them to ONNX.

Everything is seeded, so a rerun with the pinned packages of scripts/requirements.txt writes the
same files. Writes, for each model NAME under models/:
  NAME.onnx              the float model
  NAME.calibration.csv   the rows `oracle model import` fixes its scales with
  NAME.reference.json    inputs with onnxruntime's float outputs (the import tests compare to them)
and prints a training report. scripts/build_models.sh then quantizes with the Rust importer.

Models:
  price_feed  16 past one-period returns (percent) -> next return (percent); MLP 16-32-16-1,
              exported by skl2onnx (Cast, MatMul, Add, Relu, Reshape). Data: a synthetic price
              series with Markov regime changes (bull, bear, calm), each an AR(1) return process,
              seed 7 (see `price_series`).
  tictactoe   board (9 cells: +1 NPC, -1 player, 0 empty) -> move logits (9); MLP 9-64-9 trained
              to imitate minimax play for the NPC (O, moving second); exported as PyTorch exports
              nn.Linear (Gemm, transB=1).
  digits      sklearn's 8x8 digits (pixels / 16) -> 10 class logits; MLP 64-32-10, Gemm export.
  digits_cnn  the same digits as a [1, 8, 8] image -> 10 logits; a small CNN: Conv(8 channels,
              3x3, pad 1) -> Relu -> AveragePool(2x2) -> Flatten -> Gemm(128 -> 10), trained
              here with numpy (Adam, seed 0) and exported as torch exports nn.Conv2d.

  digits_1m   the same digits upsampled to 28x28 (each pixel a 3x3 block, 2 pixels of border: the
              MNIST layout) -> 10 logits; MLP 784-1024-512-10 (1,333,770 parameters: the
              million-weight model the services dispute tile by tile), sklearn Adam, seed 0, Gemm
              export.

  digits_lenet the same 28x28 digits -> 10 logits; a LeNet-style CNN: Conv(4 channels, 5x5,
              stride 2) -> Relu -> AveragePool(2x2) (LeNet-5's subsampling) -> Conv(8 channels,
              3x3) -> Relu -> Flatten -> Gemm(128 -> 32) -> Relu -> Gemm(32 -> 10), trained here
              with numpy (Adam, seed 0) and exported as torch exports nn.Conv2d.

  credit      8 applicant features (age, income, debt-to-income, utilization, late payments,
              history, accounts, loan-to-income) -> logits [repays, defaults]; MLP 8-16-8-2 on a
              documented synthetic credit book (`credit_data`, seed 11), the standardization
              exported as Add and Mul before the Gemm layers (the importer folds it into the
              input's normalization). The demo's private-input model: a user's data for a risk score.

  corpus      not shipped models but the importer's corpus (models/corpus/): models exported by
              skl2onnx as users export them (linear models with scalers, an MLPClassifier with dead
              units and its Softmax/ArgMax/ZipMap tail, a PyTorch-style binary classifier ending in
              Sigmoid) and ones it must refuse by name, each with
              onnxruntime's outputs on held-back rows (circuits/tests/it/corpus.rs).
  exporters   only the corpus's exporter patterns (PyTorch's dynamic flatten and Dropout, Keras'
              NHWC transposes, Pad, Sub/Div, grouped and dilated convolutions, LogSoftmax, Elu,
              Selu, Softplus, Gelu, HardSwish, Mish and SiLU, skl2onnx's float64 exports), merged into
              models/corpus/corpus.json.
  sklearn     only the corpus's further scikit-learn estimators (binary SGD, LinearSVC and
              MLPClassifier, Perceptron, feature selection, ColumnTransformer, raw features,
              whitened PCA, TweedieRegressor, linear and RBF SVR, linear SVC, PoissonRegressor,
              LGBMRegressor),
              merged into models/corpus/corpus.json.

`python3 scripts/train_models.py digits_cnn` retrains only the models named.
"""
import functools
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from framework_corpus import merge
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
OPSET = 13


def gemm_onnx(name, layers, input_dim, standardize=None):
    """A chain of dense layers (W [out, in], b [out], activation: True for ReLU, an operator name,
    or False) as torch.onnx.export writes nn.Linear;
    with `standardize=(mean, std)`, the input is first standardized by an Add and a Mul (as a
    model exported with its preprocessing has it)."""
    nodes, inits = [], []
    cur = "input"
    if standardize is not None:
        mean, std = standardize
        inits.append(numpy_helper.from_array(-mean.astype(np.float32), "standardize.shift"))
        inits.append(numpy_helper.from_array((1.0 / std).astype(np.float32), "standardize.scale"))
        nodes.append(helper.make_node("Add", [cur, "standardize.shift"], ["centered"], name="/standardize/Add"))
        nodes.append(helper.make_node("Mul", ["centered", "standardize.scale"], ["standardized"],
                                      name="/standardize/Mul"))
        cur = "standardized"
    for i, (w, b, act) in enumerate(layers):
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"fc{i}.weight"))
        inits.append(numpy_helper.from_array(b.astype(np.float32), f"fc{i}.bias"))
        out = f"fc{i}" if act or i < len(layers) - 1 else "output"
        nodes.append(helper.make_node("Gemm", [cur, f"fc{i}.weight", f"fc{i}.bias"], [out],
                                      name=f"/fc{i}/Gemm", alpha=1.0, beta=1.0, transB=1))
        cur = out
        if act:
            # True: ReLU; or the operator's name ("Sigmoid", "Tanh").
            op = "Relu" if act is True else act
            nxt = f"{op.lower()}{i}" if i < len(layers) - 1 else "output"
            nodes.append(helper.make_node(op, [cur], [nxt], name=f"/{op.lower()}{i}/{op}"))
            cur = nxt
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", input_dim])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", layers[-1][0].shape[0]])],
        inits)
    model = helper.make_model(graph, producer_name="verdict-train", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def sklearn_layers(mlp):
    """(W [out, in], b, relu) for each layer of a fitted sklearn MLP with ReLU hidden layers."""
    n = len(mlp.coefs_)
    return [(mlp.coefs_[i].T, mlp.intercepts_[i], i < n - 1) for i in range(n)]


def write(name, model, calibration, reference_inputs):
    path = os.path.join(OUT, f"{name}.onnx")
    onnx.save(model, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    outputs = sess.run(None, {inp: reference_inputs.astype(np.float32)})[0].reshape(len(reference_inputs), -1)
    with open(os.path.join(OUT, f"{name}.reference.json"), "w") as f:
        json.dump({"inputs": reference_inputs.astype(np.float32).reshape(len(reference_inputs), -1).astype(float).tolist(),
                   "outputs": outputs.astype(float).tolist()}, f)
        f.write("\n")
    np.savetxt(os.path.join(OUT, f"{name}.calibration.csv"), calibration.astype(np.float32), delimiter=",",
               fmt="%.6g", header=",".join(f"x{i}" for i in range(calibration.shape[1])), comments="")
    print(f"  wrote {name}.onnx, {name}.calibration.csv ({len(calibration)} rows), {name}.reference.json")


# ---------------------------------------------------------------------------------------------
# price feed

REGIMES = {  # mean return %, AR(1) coefficient, volatility %
    "bull": (0.30, 0.60, 0.6),
    "bear": (-0.40, 0.60, 1.0),
    "calm": (0.00, -0.50, 0.3),
}
WINDOW = 16


def price_series(n, seed=7, stay=0.98):
    """Returns (prices, returns in percent, regime names): a Markov chain over REGIMES that stays
    with probability `stay`, and within a regime r_t = mu + phi (r_{t-1} - mu) + sigma eps."""
    rng = np.random.default_rng(seed)
    names = list(REGIMES)
    regime = 0
    r_prev = 0.0
    returns, regimes = [], []
    for _ in range(n):
        if rng.random() > stay:
            regime = (regime + 1 + rng.integers(len(names) - 1)) % len(names)
        mu, phi, sigma = REGIMES[names[regime]]
        r = mu + phi * (r_prev - mu) + sigma * rng.standard_normal()
        returns.append(r)
        regimes.append(names[regime])
        r_prev = r
    returns = np.array(returns)
    prices = 100.0 * np.exp(np.cumsum(returns / 100.0))
    return prices, returns, regimes


def price_feed():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    _, returns, _ = price_series(6000)
    x = np.stack([returns[i - WINDOW:i] for i in range(WINDOW, len(returns))])
    y = returns[WINDOW:]
    split = 5000
    mlp = MLPRegressor(hidden_layer_sizes=(32, 16), activation="relu", max_iter=400, random_state=0,
                       early_stopping=True).fit(x[:split], y[:split])
    pred = mlp.predict(x[split:])
    naive = np.abs(y[split:]).mean()
    print(f"price_feed: test MAE {np.abs(pred - y[split:]).mean():.4f}% vs predicting 0: {naive:.4f}%")
    model = convert_sklearn(mlp, initial_types=[("input", FloatTensorType([None, WINDOW]))], target_opset=OPSET)
    model.graph.name = "price_feed"  # skl2onnx names the graph with a random uuid
    write("price_feed", model, x[:400], x[split:split + 32])


# ---------------------------------------------------------------------------------------------
# tic-tac-toe

LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


def winner(board):
    for a, b, c in LINES:
        if board[a] != 0 and board[a] == board[b] == board[c]:
            return board[a]
    return 0


@functools.lru_cache(maxsize=None)
def minimax(board, player):
    """Value of `board` for `player` to move (+1 win, 0 draw, -1 loss), preferring quick wins."""
    w = winner(board)
    if w != 0:
        return (1 if w == player else -1) * (1 + board.count(0))
    if 0 not in board:
        return 0
    best = -100
    for i in range(9):
        if board[i] == 0:
            nb = board[:i] + (player,) + board[i + 1:]
            best = max(best, -minimax(nb, -player))
    return best


def optimal_moves(board):
    """The cells that minimax rates best for the side to move (+1)."""
    scores = {}
    for i in range(9):
        if board[i] == 0:
            nb = board[:i] + (1,) + board[i + 1:]
            scores[i] = -minimax(nb, -1)
    best = max(scores.values())
    return [i for i, s in scores.items() if s == best]


def npc_positions():
    """Every non-terminal board the NPC (+1, moving second) can face, from its own view."""
    seen, out = set(), []

    def walk(board, to_move):
        if winner(board) != 0 or 0 not in board:
            return
        if to_move == 1 and board not in seen:
            seen.add(board)
            out.append(board)
        for i in range(9):
            if board[i] == 0:
                walk(board[:i] + (to_move,) + board[i + 1:], -to_move)

    walk((0,) * 9, -1)  # the player (-1) moves first
    return out


def tictactoe():
    boards = npc_positions()
    x = np.array(boards, dtype=np.float64)
    y = np.array([optimal_moves(b)[0] for b in boards])
    mlp = MLPClassifier(hidden_layer_sizes=(64,), activation="relu", max_iter=2000, random_state=0, alpha=1e-4)
    mlp.fit(x, y)
    logits = x @ mlp.coefs_[0] + mlp.intercepts_[0]
    logits = np.maximum(logits, 0) @ mlp.coefs_[1] + mlp.intercepts_[1]
    pick = logits.argmax(axis=1)
    masked = np.where(x == 0, logits, -np.inf).argmax(axis=1)
    agree = np.mean([p in optimal_moves(b) for p, b in zip(pick, boards)])
    agree_masked = np.mean([p in optimal_moves(b) for p, b in zip(masked, boards)])
    illegal = np.mean([b[p] != 0 for p, b in zip(pick, boards)])
    print(f"tictactoe: {len(boards)} positions; move is minimax-optimal in {agree:.2%} "
          f"({agree_masked:.2%} with illegal cells masked); illegal argmax in {illegal:.2%}")
    layers = [(w, b, r) for w, b, r in sklearn_layers(mlp)]
    if len(mlp.classes_) != 9:
        sys.exit("tictactoe: every cell must occur as a best move")
    write("tictactoe", gemm_onnx("tictactoe", layers, 9), x, x[:32])


# ---------------------------------------------------------------------------------------------
# digits


def digits():
    data = load_digits()
    x = data.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(x, data.target, test_size=0.2, random_state=0)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), activation="relu", max_iter=1000, random_state=0)
    mlp.fit(x_train, y_train)
    print(f"digits: float test accuracy {mlp.score(x_test, y_test):.2%} on {len(x_test)} held-out images")
    write("digits", gemm_onnx("digits", sklearn_layers(mlp), 64), x_train[:300], x_test[:32])
    np.savetxt(os.path.join(OUT, "digits.test.csv"), np.column_stack([x_test, y_test]), delimiter=",",
               fmt="%.6g", header=",".join([f"x{i}" for i in range(64)] + ["label"]), comments="")


# ---------------------------------------------------------------------------------------------
# credit risk

CREDIT_FEATURES = ["age", "income_k", "debt_to_income", "utilization", "late_payments_12m",
                   "history_years", "open_accounts", "loan_to_income"]


def credit_data(n, seed=11):
    """A documented synthetic credit book: 8 applicant features and whether the loan defaulted.
    Features: age (21-75), yearly income in k$ (lognormal around 52k), debt-to-income ratio,
    revolving-credit utilization (0-1), late payments in the last 12 months (Poisson, more with
    high utilization), years of credit history (up to age - 18), open accounts, and the loan
    amount over income. Default log-odds: -3.0 + 2.5 (3.2 (dti - 0.35) + 2.4 (utilization - 0.3)
    + 0.55 late - 0.05 (history - 8) - 0.6 ln(income / 52) + 1.5 (loan_to_income - 0.3)
    + 0.9 [utilization > 0.85 and late > 0]); the label is drawn from that probability."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(21, 75, n)
    income = np.exp(rng.normal(np.log(52), 0.45, n))
    dti = np.clip(rng.gamma(4.0, 0.085, n), 0, 1.5)
    util = np.clip(rng.beta(2.0, 3.0, n), 0, 1)
    late = rng.poisson(0.2 + 1.5 * util ** 2)
    history = np.minimum(age - 18, rng.gamma(3.0, 3.5, n))
    accounts = rng.poisson(3 + history / 6)
    lti = np.clip(rng.gamma(2.0, 0.15, n), 0, 2.0)
    logit = -3.0 + 2.5 * (3.2 * (dti - 0.35) + 2.4 * (util - 0.3) + 0.55 * late - 0.05 * (history - 8)
                          - 0.6 * np.log(income / 52) + 1.5 * (lti - 0.3) + 0.9 * ((util > 0.85) & (late > 0)))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    x = np.column_stack([age, income, dti, util, late, history, accounts, lti])
    return x, y, logit


def credit():
    x, y, logit = credit_data(24000)
    split = 20000
    mean, std = x[:split].mean(axis=0), x[:split].std(axis=0)
    z = (x - mean) / std
    mlp = MLPClassifier(hidden_layer_sizes=(16, 8), activation="relu", max_iter=400, random_state=0,
                        early_stopping=True).fit(z[:split], y[:split])
    accuracy = mlp.score(z[split:], y[split:])
    bayes = ((logit[split:] > 0).astype(int) == y[split:]).mean()
    print(f"credit: default rate {y.mean():.1%}; float test accuracy {accuracy:.2%} on {len(y) - split} "
          f"held-out applicants (the generator's own rule: {bayes:.2%})")
    # sklearn's two-class MLPClassifier has one logistic output unit: as logits [0, l] the argmax
    # is the same decision, and the model reads as a two-class classifier.
    layers = sklearn_layers(mlp)
    w, b, _ = layers[-1]
    layers[-1] = (np.vstack([np.zeros_like(w), w]), np.concatenate([[0.0], b]), False)
    write("credit", gemm_onnx("credit", layers, len(CREDIT_FEATURES), standardize=(mean, std)),
          x[:400], x[split:split + 32])
    np.savetxt(os.path.join(OUT, "credit.test.csv"), np.column_stack([x[split:], y[split:]]), delimiter=",",
               fmt="%.6g", header=",".join(CREDIT_FEATURES + ["defaulted"]), comments="")


def credit_gbdt():
    """The lending model that banks actually run: a gradient-boosted ensemble (40 trees of depth 3)
    on the same synthetic credit book, on raw features (trees need no standardization), exported
    by skl2onnx as a TreeEnsembleClassifier (one logit, post_transform LOGISTIC)."""
    from sklearn.ensemble import GradientBoostingClassifier
    from skl2onnx import to_onnx

    x, y, logit = credit_data(24000)
    split = 20000
    gbdt = GradientBoostingClassifier(n_estimators=40, max_depth=3, learning_rate=0.2, random_state=0)
    gbdt.fit(x[:split], y[:split])
    accuracy = gbdt.score(x[split:], y[split:])
    bayes = ((logit[split:] > 0).astype(int) == y[split:]).mean()
    print(f"credit_gbdt: float test accuracy {accuracy:.2%} on {len(y) - split} held-out applicants "
          f"(the generator's own rule: {bayes:.2%})")
    onx = to_onnx(gbdt, x[:1].astype(np.float32), target_opset={"": 13, "ai.onnx.ml": 3})
    path = os.path.join(OUT, "credit_gbdt.onnx")
    onnx.save(onx, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    reference = x[split:split + 200]
    labels = sess.run(None, {sess.get_inputs()[0].name: reference.astype(np.float32)})[0]
    with open(os.path.join(OUT, "credit_gbdt.reference.json"), "w") as f:
        json.dump({"inputs": reference.astype(np.float32).astype(float).tolist(), "labels": [int(v) for v in labels]}, f)
        f.write("\n")
    np.savetxt(os.path.join(OUT, "credit_gbdt.calibration.csv"), x[:400].astype(np.float32), delimiter=",",
               fmt="%.6g", header=",".join(CREDIT_FEATURES), comments="")
    print("  wrote credit_gbdt.onnx, credit_gbdt.calibration.csv (400 rows), credit_gbdt.reference.json")


# ---------------------------------------------------------------------------------------------
# digits CNN (numpy: forward and backward by hand)

CNN_CHANNELS = 8


def im2col(x):
    """[n, 1, 8, 8] -> [n, 64 positions, 9 taps] of 3x3 windows, zero padding 1."""
    padded = np.pad(x[:, 0], ((0, 0), (1, 1), (1, 1)))
    cols = np.stack([padded[:, dy:dy + 8, dx:dx + 8] for dy in range(3) for dx in range(3)], axis=-1)
    return cols.reshape(len(x), 64, 9)


def cnn_forward(params, cols):
    k, kb, w, b = params
    conv = cols @ k.reshape(CNN_CHANNELS, 9).T + kb                  # [n, 64, C]
    act = np.maximum(conv, 0)
    img = act.reshape(-1, 8, 8, CNN_CHANNELS)
    pooled = img.reshape(-1, 4, 2, 4, 2, CNN_CHANNELS).mean(axis=(2, 4))  # [n, 4, 4, C]
    flat = pooled.transpose(0, 3, 1, 2).reshape(len(cols), -1)      # NCHW flattening
    return conv, flat, flat @ w.T + b


def digits_cnn():
    data = load_digits()
    x = (data.data / 16.0).reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = train_test_split(x, data.target, test_size=0.2, random_state=0)
    rng = np.random.default_rng(0)
    c = CNN_CHANNELS
    params = [rng.normal(0, 0.4, (c, 1, 3, 3)), np.zeros(c), rng.normal(0, 0.1, (10, c * 16)), np.zeros(10)]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    cols_train = im2col(x_train)
    step = 0
    for epoch in range(60):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), 32):
            idx = order[start:start + 32]
            cols, y = cols_train[idx], y_train[idx]
            conv, flat, logits = cnn_forward(params, cols)
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(y)), y] -= 1
            d_logits = p / len(y)
            g_w, g_b = d_logits.T @ flat, d_logits.sum(axis=0)
            d_flat = d_logits @ params[2]
            d_pooled = d_flat.reshape(-1, c, 4, 4).transpose(0, 2, 3, 1)
            d_img = np.repeat(np.repeat(d_pooled, 2, axis=1), 2, axis=2) / 4.0
            d_conv = d_img.reshape(-1, 64, c) * (conv > 0)
            g_k = np.einsum("npc,npt->ct", d_conv, cols).reshape(c, 1, 3, 3)
            g_kb = d_conv.sum(axis=(0, 1))
            step += 1
            for i, g in enumerate([g_k, g_kb, g_w, g_b]):
                m, v = moments[i]
                m[:] = 0.9 * m + 0.1 * g
                v[:] = 0.999 * v + 0.001 * g * g
                params[i] -= 0.01 * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    accuracy = (cnn_forward(params, im2col(x_test))[2].argmax(axis=1) == y_test).mean()
    print(f"digits_cnn: float test accuracy {accuracy:.2%} on {len(x_test)} held-out images")

    k, kb, w, b = [p.astype(np.float32) for p in params]
    inits = [numpy_helper.from_array(k, "conv.weight"), numpy_helper.from_array(kb, "conv.bias"),
             numpy_helper.from_array(w, "fc.weight"), numpy_helper.from_array(b, "fc.bias")]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["conv"], name="/conv/Conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node("Relu", ["conv"], ["relu"], name="/relu/Relu"),
        helper.make_node("AveragePool", ["relu"], ["pool"], name="/pool/AveragePool",
                         kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0,
                         count_include_pad=0),
        helper.make_node("Flatten", ["pool"], ["flat"], name="/flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["output"], name="/fc/Gemm",
                         alpha=1.0, beta=1.0, transB=1),
    ]
    model = image_onnx("digits_cnn", nodes, inits, 8)
    flat_train, flat_test = x_train.reshape(len(x_train), 1, 8, 8), x_test.reshape(len(x_test), 1, 8, 8)
    write("digits_cnn", model, flat_train[:300].reshape(300, 64), flat_test[:32])
    write_test_rows("digits_cnn", x_test, y_test)


def image_onnx(name, nodes, inits, side):
    """A checked ONNX model of `nodes` from a [batch, 1, side, side] image to 10 logits."""
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, side, side])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 10])],
        inits)
    model = helper.make_model(graph, producer_name="verdict-train", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_test_rows(name, x, y):
    """NAME.test.csv: the held-out inputs (flattened) with their labels."""
    x = x.reshape(len(x), -1)
    np.savetxt(os.path.join(OUT, f"{name}.test.csv"), np.column_stack([x, y]), delimiter=",", fmt="%.6g",
               header=",".join([f"x{i}" for i in range(x.shape[1])] + ["label"]), comments="")


def upsample28(x):
    """[n, 64] pixels of 8x8 images -> [n, 784] of 28x28: each pixel a 3x3 block, a 2-pixel border."""
    img = np.kron(x.reshape(-1, 8, 8), np.ones((3, 3)))
    return np.pad(img, ((0, 0), (2, 2), (2, 2))).reshape(len(x), 784)


def digits_1m():
    data = load_digits()
    x = upsample28(data.data / 16.0)
    x_train, x_test, y_train, y_test = train_test_split(x, data.target, test_size=0.2, random_state=0)
    mlp = MLPClassifier(hidden_layer_sizes=(1024, 512), activation="relu", max_iter=30, random_state=0)
    mlp.fit(x_train, y_train)
    params = sum(w.size for w in mlp.coefs_) + sum(b.size for b in mlp.intercepts_)
    print(f"digits_1m: {params} parameters, float test accuracy {mlp.score(x_test, y_test):.2%} "
          f"on {len(x_test)} held-out images")
    write("digits_1m", gemm_onnx("digits_1m", sklearn_layers(mlp), 784), x_train[:300], x_test[:32])
    write_test_rows("digits_1m", x_test, y_test)


# ---------------------------------------------------------------------------------------------
# LeNet-style CNN on 28x28 digits (numpy: forward and backward by hand)

LENET = {"c1": 4, "k1": 5, "s1": 2, "c2": 8, "k2": 3, "hidden": 32}


def windows(img, k, stride):
    """[n, H, W, C] (NHWC) -> [n, positions, C * k * k] of k x k windows (no padding), taps in
    ONNX's kernel order (channel, row, column)."""
    n, h, w, c = img.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    taps = [img[:, dy:dy + stride * (oh - 1) + 1:stride, dx:dx + stride * (ow - 1) + 1:stride, ch]
            for ch in range(c) for dy in range(k) for dx in range(k)]
    return np.stack(taps, axis=-1).reshape(n, oh * ow, c * k * k)


def unwindows(d_cols, shape, k, stride):
    """The adjoint of `windows`: [n, positions, C * k * k] gradients summed back into [n, H, W, C]."""
    n, h, w, c = shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros(shape)
    t = 0
    for ch in range(c):
        for dy in range(k):
            for dx in range(k):
                out[:, dy:dy + stride * (oh - 1) + 1:stride, dx:dx + stride * (ow - 1) + 1:stride, ch] += \
                    d_cols[:, :, t].reshape(n, oh, ow)
                t += 1
    return out


def lenet_forward(params, cols1):
    k1, b1, k2, b2, w3, b3, w4, b4 = params
    n = len(cols1)
    z1 = cols1 @ k1.reshape(len(k1), -1).T + b1                       # [n, 144, c1]
    side1 = int(round(np.sqrt(z1.shape[1])))
    a1 = np.maximum(z1, 0).reshape(n, side1, side1, -1)
    pooled = a1.reshape(n, side1 // 2, 2, side1 // 2, 2, -1).mean(axis=(2, 4))  # [n, 6, 6, c1]
    cols2 = windows(pooled, LENET["k2"], 1)                          # [n, 16, c1 * 9]
    z2 = cols2 @ k2.reshape(len(k2), -1).T + b2                       # [n, 16, c2]
    side2 = int(round(np.sqrt(z2.shape[1])))
    flat = np.maximum(z2, 0).reshape(n, side2, side2, -1).transpose(0, 3, 1, 2).reshape(n, -1)  # NCHW
    z3 = flat @ w3.T + b3
    h = np.maximum(z3, 0)
    return (z1, pooled, cols2, z2, flat, z3, h), h @ w4.T + b4


def digits_lenet():
    data = load_digits()
    x = upsample28(data.data / 16.0)
    x_train, x_test, y_train, y_test = train_test_split(x, data.target, test_size=0.2, random_state=0)
    rng = np.random.default_rng(0)
    c1, k1, s1, c2, k2, hidden = (LENET[k] for k in ["c1", "k1", "s1", "c2", "k2", "hidden"])
    side1 = (28 - k1) // s1 + 1
    side2 = side1 // 2 - k2 + 1
    flat_dim = c2 * side2 * side2
    params = [rng.normal(0, np.sqrt(2 / (k1 * k1)), (c1, 1, k1, k1)), np.zeros(c1),
              rng.normal(0, np.sqrt(2 / (c1 * k2 * k2)), (c2, c1, k2, k2)), np.zeros(c2),
              rng.normal(0, np.sqrt(2 / flat_dim), (hidden, flat_dim)), np.zeros(hidden),
              rng.normal(0, np.sqrt(1 / hidden), (10, hidden)), np.zeros(10)]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    cols_train = windows(x_train.reshape(-1, 28, 28, 1), k1, s1)
    step = 0
    for epoch in range(40):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), 32):
            idx = order[start:start + 32]
            cols1, y = cols_train[idx], y_train[idx]
            n = len(y)
            (z1, pooled, cols2, z2, flat, z3, h), logits = lenet_forward(params, cols1)
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(n), y] -= 1
            d_logits = p / n
            g_w4, g_b4 = d_logits.T @ h, d_logits.sum(axis=0)
            d_z3 = (d_logits @ params[6]) * (z3 > 0)
            g_w3, g_b3 = d_z3.T @ flat, d_z3.sum(axis=0)
            d_flat = d_z3 @ params[4]
            d_z2 = d_flat.reshape(n, c2, side2, side2).transpose(0, 2, 3, 1).reshape(n, -1, c2) * (z2 > 0)
            g_k2 = np.einsum("npo,npt->ot", d_z2, cols2).reshape(params[2].shape)
            g_b2 = d_z2.sum(axis=(0, 1))
            d_pooled = unwindows(d_z2 @ params[2].reshape(c2, -1), pooled.shape, k2, 1)
            d_a1 = np.repeat(np.repeat(d_pooled, 2, axis=1), 2, axis=2) / 4.0
            d_z1 = d_a1.reshape(n, -1, c1) * (z1 > 0)
            g_k1 = np.einsum("npo,npt->ot", d_z1, cols1).reshape(params[0].shape)
            g_b1 = d_z1.sum(axis=(0, 1))
            step += 1
            for i, g in enumerate([g_k1, g_b1, g_k2, g_b2, g_w3, g_b3, g_w4, g_b4]):
                m, v = moments[i]
                m[:] = 0.9 * m + 0.1 * g
                v[:] = 0.999 * v + 0.001 * g * g
                params[i] -= 0.005 * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    logits = lenet_forward(params, windows(x_test.reshape(-1, 28, 28, 1), k1, s1))[1]
    accuracy = (logits.argmax(axis=1) == y_test).mean()
    count = sum(p.size for p in params)
    print(f"digits_lenet: {count} parameters, float test accuracy {accuracy:.2%} on {len(x_test)} held-out images")

    k1w, k1b, k2w, k2b, w3, b3, w4, b4 = [p.astype(np.float32) for p in params]
    inits = [numpy_helper.from_array(a, name) for a, name in [
        (k1w, "conv1.weight"), (k1b, "conv1.bias"), (k2w, "conv2.weight"), (k2b, "conv2.bias"),
        (w3, "fc1.weight"), (b3, "fc1.bias"), (w4, "fc2.weight"), (b4, "fc2.bias")]]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1"], name="/conv1/Conv",
                         kernel_shape=[k1, k1], pads=[0, 0, 0, 0], strides=[s1, s1], dilations=[1, 1], group=1),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="/relu1/Relu"),
        helper.make_node("AveragePool", ["relu1"], ["pool1"], name="/pool1/AveragePool",
                         kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0,
                         count_include_pad=0),
        helper.make_node("Conv", ["pool1", "conv2.weight", "conv2.bias"], ["conv2"], name="/conv2/Conv",
                         kernel_shape=[k2, k2], pads=[0, 0, 0, 0], strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="/relu2/Relu"),
        helper.make_node("Flatten", ["relu2"], ["flat"], name="/flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["fc1"], name="/fc1/Gemm",
                         alpha=1.0, beta=1.0, transB=1),
        helper.make_node("Relu", ["fc1"], ["relu3"], name="/relu3/Relu"),
        helper.make_node("Gemm", ["relu3", "fc2.weight", "fc2.bias"], ["output"], name="/fc2/Gemm",
                         alpha=1.0, beta=1.0, transB=1),
    ]
    write("digits_lenet", image_onnx("digits_lenet", nodes, inits, 28), x_train[:300], x_test[:32].reshape(-1, 1, 28, 28))
    write_test_rows("digits_lenet", x_test, y_test)


def sklearn_exporter(out, manifest):
    """The function that writes a scikit-learn model (or an ONNX graph `onx` made otherwise) into
    the corpus at `out`: its ONNX file and, unless it must be `refused`, onnxruntime's labels
    (`classifier`) or outputs (`regressor`) on the held-back rows and its calibration rows; its
    entry goes to `manifest`."""
    from skl2onnx import to_onnx

    def export(name, model, x_train, x_test, kind, refused=None, onx=None, votes=False):
        if onx is None:
            onx = to_onnx(model, x_train[:1].astype(np.float32), target_opset={"": 13, "ai.onnx.ml": 3})
        path = os.path.join(out, f"{name}.onnx")
        onnx.save(onx, path)
        entry = {"name": name, "kind": kind}
        if refused:
            entry["refused"] = refused
        else:
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            inp = sess.get_inputs()[0].name
            result = sess.run(None, {inp: x_test.astype(np.float32)})
            doc = {"inputs": x_test.astype(np.float32).astype(float).tolist()}
            if kind == "classifier":
                doc["labels"] = [int(v) for v in result[0]]
            else:
                doc["outputs"] = result[0].reshape(len(x_test), -1).astype(float).tolist()
            if votes:
                # An SVM's one-against-rest scores are its pairwise votes plus confidences of
                # magnitude below 1/3: rounded, the votes.
                scores = [[row[k] for k in sorted(row)] for row in result[1]] if isinstance(result[1], list) else result[1]
                doc["votes"] = np.rint(np.array(scores)).astype(int).tolist()
            with open(os.path.join(out, f"{name}.heldout.json"), "w") as f:
                json.dump(doc, f)
                f.write("\n")
            np.savetxt(os.path.join(out, f"{name}.calibration.csv"), x_train[:300].astype(np.float32), delimiter=",",
                       fmt="%.7g")
        manifest.append(entry)
        print(f"  corpus: {name} ({kind})")

    return export


def corpus():
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, Normalizer, StandardScaler
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, RandomForestRegressor
    from sklearn.tree import DecisionTreeClassifier

    out = os.path.join(OUT, "corpus")
    os.makedirs(out, exist_ok=True)
    manifest = []

    export = sklearn_exporter(out, manifest)

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.3, random_state=0)
    export("logreg_scaled_breast_cancer",
           make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_train, y_train),
           x_train, x_test, "classifier")
    d = load_digits()
    x, y = d.data / 16.0, d.target
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.3, random_state=0)
    export("logreg_digits", LogisticRegression(max_iter=2000).fit(x_train, y_train), x_train, x_test, "classifier")
    # L2 drives whole rows of weights to ~0: dead units (the importer must survive them).
    export("mlp_dead_units_digits",
           MLPClassifier(hidden_layer_sizes=(32, 16, 16), alpha=1.0, max_iter=300, random_state=0)
           .fit(x_train, y_train), x_train, x_test, "classifier")
    # scikit-learn's smooth activations, as skl2onnx writes them (MatMul, Add, Tanh or Sigmoid).
    export("mlp_tanh_digits",
           MLPClassifier(hidden_layer_sizes=(32, 16), activation="tanh", max_iter=500, random_state=0)
           .fit(x_train, y_train), x_train, x_test, "classifier")
    export("mlp_logistic_digits",
           MLPClassifier(hidden_layer_sizes=(32,), activation="logistic", max_iter=1000, random_state=0)
           .fit(x_train, y_train), x_train, x_test, "classifier")
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.3, random_state=0)
    export("linreg_diabetes", LinearRegression().fit(x_train, y_train), x_train, x_test, "regressor")
    export("ridge_minmax_diabetes", make_pipeline(MinMaxScaler(), Ridge()).fit(x_train, y_train),
           x_train, x_test, "regressor")
    # Tree ensembles as skl2onnx writes them (TreeEnsembleRegressor; SUM of pre-divided leaves for
    # a forest, base values for boosting).
    export("forest_diabetes", RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)
           .fit(x_train, y_train), x_train, x_test, "regressor")
    export("gbdt_diabetes", GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0)
           .fit(x_train, y_train), x_train, x_test, "regressor")
    import xgboost
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType
    xgb = xgboost.XGBRegressor(n_estimators=20, max_depth=3, random_state=0).fit(x_train, y_train)
    export("xgboost_diabetes", xgb, x_train, x_test, "regressor",
           onx=onnxmltools.convert_xgboost(xgb, initial_types=[("input", FloatTensorType([None, x_train.shape[1]]))],
                                           target_opset=13))
    # Refused by name: a row normalization.
    export("normalizer_ridge_diabetes", make_pipeline(Normalizer(), Ridge()).fit(x_train, y_train),
           x_train, x_test, "unsupported", refused="ai.onnx.ml::Normalizer")
    # TreeEnsembleClassifier: a binary decision tree (one probability score), a boosted binary
    # ensemble (one logit, post_transform LOGISTIC) and a multi-class tree (a score a class).
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.3, random_state=0)
    export("tree_breast_cancer", DecisionTreeClassifier(max_depth=4, random_state=0).fit(x_train, y_train),
           x_train, x_test, "classifier")
    export("gbdt_breast_cancer", GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0)
           .fit(x_train, y_train), x_train, x_test, "classifier")
    # XGBoost and LightGBM through onnxmltools (no default-domain opset, or opset 9; XGBoost
    # compares with BRANCH_LT).
    import lightgbm
    import onnxmltools
    import xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    def mltools(convert, model):
        return convert(model, initial_types=[("input", FloatTensorType([None, x_train.shape[1]]))], target_opset=13)

    xgb = xgboost.XGBClassifier(n_estimators=30, max_depth=3, random_state=0).fit(x_train, y_train)
    export("xgboost_breast_cancer", xgb, x_train, x_test, "classifier", onx=mltools(onnxmltools.convert_xgboost, xgb))
    lgbm = lightgbm.LGBMClassifier(n_estimators=30, num_leaves=8, random_state=0, verbose=-1).fit(x_train, y_train)
    export("lightgbm_breast_cancer", lgbm, x_train, x_test, "classifier",
           onx=mltools(onnxmltools.convert_lightgbm, lgbm))
    d = load_digits()
    x_train, x_test, y_train, _ = train_test_split(d.data, d.target, test_size=0.3, random_state=0)
    export("tree_digits", DecisionTreeClassifier(max_depth=8, random_state=0).fit(x_train, y_train),
           x_train, x_test, "classifier")
    # A PyTorch-style binary classifier (Gemm, Relu, Gemm to one logit, Sigmoid) on standardized
    # breast-cancer features: the model takes the standardized row.
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.3, random_state=0)
    mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=0).fit(x_train, y_train)
    onx = gemm_onnx("sigmoid_binary", sklearn_layers(mlp), x.shape[1])
    logit = onx.graph.output[0].name
    onx.graph.node.append(helper.make_node("Sigmoid", [logit], ["probability"], name="/sigmoid/Sigmoid"))
    del onx.graph.output[:]
    onx.graph.output.append(helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1]))
    onnx.checker.check_model(onx)
    path = os.path.join(out, "sigmoid_binary_breast_cancer.onnx")
    onnx.save(onx, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    p = sess.run(None, {"input": x_test.astype(np.float32)})[0].reshape(-1)
    with open(os.path.join(out, "sigmoid_binary_breast_cancer.heldout.json"), "w") as f:
        json.dump({"inputs": x_test.astype(np.float32).astype(float).tolist(), "labels": [int(v > 0.5) for v in p]}, f)
        f.write("\n")
    np.savetxt(os.path.join(out, "sigmoid_binary_breast_cancer.calibration.csv"), x_train[:300].astype(np.float32),
               delimiter=",", fmt="%.7g")
    manifest.append({"name": "sigmoid_binary_breast_cancer", "kind": "classifier"})
    print("  corpus: sigmoid_binary_breast_cancer (classifier)")
    # PyTorch-style nets with an elementwise non-linearity between their layers: the piecewise-
    # linear ones (LeakyRelu, HardSigmoid, Clip as ReLU6 or with one bound) import as ReLU hinges,
    # Sigmoid and Tanh as int8 tables; all are checked against onnxruntime as regressors.
    def activation_net(name, op, extra_inputs=(), refused=None, **attrs):
        rng = np.random.default_rng(3)
        layers = [(rng.normal(0, 0.5, (8, 6)), rng.normal(0, 0.3, 8), False),
                  (rng.normal(0, 0.5, (1, 8)), rng.normal(0, 0.1, 1), False)]
        onx = gemm_onnx(name, layers, 6)
        # Between the two Gemm nodes: fc0 -> op -> act0 -> second Gemm.
        onx.graph.node[1].input[0] = "act0"
        inputs = ["fc0"]
        for i, value in enumerate(extra_inputs):
            if value is None:
                inputs.append("")
                continue
            onx.graph.initializer.append(numpy_helper.from_array(np.array(value, np.float32), f"act0.bound{i}"))
            inputs.append(f"act0.bound{i}")
        onx.graph.node.insert(1, helper.make_node(op, inputs, ["act0"], name=f"/act0/{op}", **attrs))
        onnx.checker.check_model(onx)
        path = os.path.join(out, f"{name}.onnx")
        onnx.save(onx, path)
        if refused:
            manifest.append({"name": name, "kind": "unsupported", "refused": refused})
            print(f"  corpus: {name} (unsupported: {refused})")
            return
        # Inputs in [-2, 2]; the calibration rows include the corners, so that no held-back row
        # saturates the int8 input scale.
        x = rng.uniform(-2.0, 2.0, (400, 6))
        x[0], x[1] = 2.0, -2.0
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        y = sess.run(None, {"input": x[300:].astype(np.float32)})[0]
        with open(os.path.join(out, f"{name}.heldout.json"), "w") as f:
            json.dump({"inputs": x[300:].astype(np.float32).astype(float).tolist(),
                       "outputs": y.reshape(len(y), -1).astype(float).tolist()}, f)
            f.write("\n")
        np.savetxt(os.path.join(out, f"{name}.calibration.csv"), x[:300].astype(np.float32), delimiter=",", fmt="%.7g")
        manifest.append({"name": name, "kind": "regressor"})
        print(f"  corpus: {name} (regressor: {op})")

    activation_net("tanh_mlp", "Tanh")
    activation_net("sigmoid_mlp", "Sigmoid")
    activation_net("leaky_relu_mlp", "LeakyRelu", alpha=0.1)
    activation_net("hard_sigmoid_mlp", "HardSigmoid")
    activation_net("relu6_mlp", "Clip", extra_inputs=(0.0, 6.0))
    activation_net("clip_max_mlp", "Clip", extra_inputs=(None, 0.5))
    nodes = [helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["conv"], name="/conv/Conv",
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv"], ["relu"], name="/relu/Relu"),
             helper.make_node("MaxPool", ["relu"], ["pool"], name="/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["pool"], ["flat"], name="/flatten/Flatten"),
             helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["output"], name="/fc/Gemm", transB=1)]
    rng = np.random.default_rng(4)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (4, 1, 3, 3)).astype(np.float32), "conv.weight"),
             numpy_helper.from_array(np.zeros(4, np.float32), "conv.bias"),
             numpy_helper.from_array(rng.normal(0, 0.3, (10, 64)).astype(np.float32), "fc.weight"),
             numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias")]
    graph = helper.make_graph(nodes, "maxpool_cnn",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 10])], inits)
    onx = helper.make_model(graph, producer_name="verdict-train", opset_imports=[helper.make_opsetid("", OPSET)])
    onx.ir_version = 8
    onnx.checker.check_model(onx)
    path = os.path.join(out, "maxpool_cnn.onnx")
    onnx.save(onx, path)
    # On the digits as [1, 8, 8] images; the labels are onnxruntime's argmax.
    d = load_digits()
    images = (d.data / 16.0).astype(np.float32)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    scores = sess.run(None, {"input": images[300:500].reshape(-1, 1, 8, 8)})[0]
    with open(os.path.join(out, "maxpool_cnn.heldout.json"), "w") as f:
        json.dump({"inputs": images[300:500].astype(float).tolist(), "labels": [int(v) for v in scores.argmax(1)]}, f)
        f.write("\n")
    np.savetxt(os.path.join(out, "maxpool_cnn.calibration.csv"), images[:300], delimiter=",", fmt="%.7g")
    manifest.append({"name": "maxpool_cnn", "kind": "classifier"})
    print("  corpus: maxpool_cnn (classifier: Conv, Relu, MaxPool)")
    sklearn_pipelines(export)
    sklearn_ensembles(export)
    exporter_patterns(out, manifest)
    merge(manifest)


def sklearn_pipelines(export):
    """skl2onnx's exports of more scikit-learn estimators and pipelines: binary linear
    classifiers whose two-class output is written out as nodes (`Mul(s, -1)` and `Concat`; a
    binary `MLPClassifier`'s `Sub(1, p)` and `Concat`), `Perceptron`'s `ArgMax` of its scores,
    feature selection (`ArrayFeatureExtractor` of the input's columns), a `ColumnTransformer` of
    scalers, models on raw features of very different ranges, a whitened PCA (`Sqrt` of a
    constant), a generalized linear model's vector `MatMul`, a linear-kernel `SVR` and binary `SVC`
    (`SVMRegressor`, `SVMClassifier`), a LightGBM regressor, and three it must refuse by name."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
    from sklearn.decomposition import PCA
    from sklearn.feature_selection import SelectKBest, VarianceThreshold
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import (LogisticRegression, Perceptron, PoissonRegressor, Ridge, SGDClassifier,
                                      TweedieRegressor)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
    from sklearn.svm import SVC, SVR, LinearSVC

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.3, random_state=0)
    export("sgd_scaled_breast_cancer", make_pipeline(StandardScaler(), SGDClassifier(random_state=0))
           .fit(x_train, y_train), x_train, x_test, "classifier")
    export("mlp_binary_breast_cancer",
           make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=0))
           .fit(x_train, y_train), x_train, x_test, "classifier")
    export("kbest_scaled_logreg_breast_cancer",
           make_pipeline(SelectKBest(k=10), StandardScaler(), LogisticRegression(max_iter=2000))
           .fit(x_train, y_train), x_train, x_test, "classifier")
    # A ColumnTransformer: its column groups (ArrayFeatureExtractor) scaled three ways, joined.
    columns = ColumnTransformer([("standard", StandardScaler(), list(range(0, 10))),
                                 ("minmax", MinMaxScaler(), list(range(20, 30))),
                                 ("robust", RobustScaler(), [12, 11, 10])])
    export("column_transformer_mlp_breast_cancer",
           make_pipeline(columns, MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=0))
           .fit(x_train, y_train), x_train, x_test, "classifier")
    # Raw features of ranges thousands of times apart (areas in the thousands, smoothness in
    # hundredths), unscaled or passed through: the quantizer balances the input.
    export("logreg_raw_breast_cancer", LogisticRegression(max_iter=20000, random_state=0).fit(x_train, y_train),
           x_train, x_test, "classifier")
    columns = ColumnTransformer([("standard", StandardScaler(), list(range(0, 10)))], remainder="passthrough")
    export("column_transformer_passthrough_breast_cancer",
           make_pipeline(columns, LogisticRegression(max_iter=20000, random_state=0)).fit(x_train, y_train),
           x_train, x_test, "classifier")
    # skl2onnx cannot export LinearSVC inside a pipeline: on standardized rows.
    scaled = StandardScaler().fit(x_train)
    export("linear_svc_breast_cancer", LinearSVC(random_state=0).fit(scaled.transform(x_train), y_train),
           scaled.transform(x_train), scaled.transform(x_test), "classifier")
    export("svc_linear_breast_cancer", SVC(kernel="linear", C=0.1).fit(scaled.transform(x_train), y_train),
           scaled.transform(x_train), scaled.transform(x_test), "classifier")
    # SVMs of three classes: pairwise decisions and their votes (libsvm's one-against-one).
    iris = load_iris()
    x_iris, x_iris_test, y_iris, _ = train_test_split(iris.data, iris.target, test_size=0.3, random_state=0)
    export("svc_linear_iris", SVC(kernel="linear").fit(x_iris, y_iris), x_iris, x_iris_test, "classifier", votes=True)
    wine = load_wine()
    x_wine, x_wine_test, y_wine, _ = train_test_split(wine.data, wine.target, test_size=0.3, random_state=0)
    export("svc_linear_scaled_wine", make_pipeline(StandardScaler(), SVC(kernel="linear", C=0.5)).fit(x_wine, y_wine),
           x_wine, x_wine_test, "classifier", votes=True)
    d = load_digits()
    x_train, x_test, y_train, _ = train_test_split(d.data / 16.0, d.target, test_size=0.3, random_state=0)
    export("perceptron_digits", Perceptron(random_state=0).fit(x_train, y_train), x_train, x_test, "classifier")
    export("variance_threshold_digits",
           make_pipeline(VarianceThreshold(0.01), LogisticRegression(max_iter=2000)).fit(x_train, y_train),
           x_train, x_test, "classifier")
    export("pca_whiten_digits",
           make_pipeline(PCA(n_components=20, whiten=True, random_state=0), LogisticRegression(max_iter=2000))
           .fit(x_train, y_train), x_train, x_test, "classifier")
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.3, random_state=0)
    export("tweedie_diabetes", TweedieRegressor(power=0, alpha=0.01).fit(x_train, y_train), x_train, x_test,
           "regressor")
    export("svr_linear_diabetes", SVR(kernel="linear", C=100.0).fit(x_train, y_train), x_train, x_test, "regressor")
    # LightGBM's regressor: its first tree's leaves carry the target's mean (each tree's leaves
    # are centred at import, so that the mean does not coarsen the others' int8 weights).
    import lightgbm
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType
    lgbm = lightgbm.LGBMRegressor(n_estimators=20, num_leaves=8, random_state=0, verbose=-1).fit(x_train, y_train)
    export("lightgbm_diabetes", lgbm, x_train, x_test, "regressor",
           onx=onnxmltools.convert_lightgbm(lgbm, initial_types=[("input", FloatTensorType([None, x_train.shape[1]]))],
                                            target_opset=13))
    # A market feed's raw features (a price in thousands, a volume in millions, a funding rate in
    # thousandths, a volatility in hundredths) and a linear fit of the next price on them.
    rng = np.random.default_rng(17)
    n = 600
    market = np.column_stack([rng.uniform(2000, 4000, n), rng.uniform(1e5, 5e6, n), rng.uniform(-2e-3, 2e-3, n),
                              rng.uniform(0.01, 0.1, n), rng.uniform(0.9, 1.1, n)])
    price = market[:, 0] * (1 + 20 * market[:, 2]) + 2e-5 * market[:, 1] - 3000 * market[:, 3] + rng.normal(0, 5, n)
    export("ridge_raw_market", Ridge(alpha=1e-6).fit(market[:400], price[:400]), market[:400], market[400:],
           "regressor")
    # Refused by name: an RBF kernel (the input against each support vector) and a log link's Exp.
    export("svr_rbf_diabetes", SVR(kernel="rbf", C=100.0).fit(x_train, y_train), x_train, x_test, "unsupported",
           refused="ai.onnx.ml::SVMRegressor")
    export("poisson_diabetes", PoissonRegressor().fit(x_train, y_train), x_train, x_test, "unsupported",
           refused="Exp")


def sklearn_ensembles(export):
    """scikit-learn's ensembles of models over one input as skl2onnx writes them: a
    `VotingRegressor` (each member's output times its weight, then `Sum`), `BaggingRegressor`s
    of trees and of linear models and a `BaggingClassifier` (`Reshape`, `Concat`, `ReduceMean`),
    a `StackingRegressor` of trees (`Concat`, then the final `LinearRegressor`), a soft
    `VotingClassifier` of forests (`Mul`, `Sum` of their probabilities), and four it must
    refuse by name: a vote and a stack of a forest and a linear model, AdaBoost's weighted
    median, and a mean of boosted classifiers' probabilities."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
    from sklearn.ensemble import (AdaBoostRegressor, BaggingClassifier, BaggingRegressor, ExtraTreesClassifier,
                                  GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier,
                                  RandomForestRegressor, StackingRegressor, VotingClassifier, VotingRegressor)
    from sklearn.linear_model import Ridge
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    from skl2onnx import to_onnx

    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.3, random_state=0)
    voting = VotingRegressor([("forest", RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)),
                              ("boosted", GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0))],
                             weights=np.array([1.0, 3.0]))
    export("voting_trees_diabetes", voting.fit(x_train, y_train), x_train, x_test, "regressor")
    # The same vote with its forest written as other exporters write forests: leaf values summed
    # over the trees, then averaged (`aggregate_function` AVERAGE).
    onx = to_onnx(voting, x_train[:1].astype(np.float32), target_opset={"": 13, "ai.onnx.ml": 3})
    forest = next(n for n in onx.graph.node if n.op_type == "TreeEnsembleRegressor")
    trees = len(set(next(a.ints for a in forest.attribute if a.name == "nodes_treeids")))
    weights = next(a for a in forest.attribute if a.name == "target_weights")
    weights.floats[:] = [v * trees for v in weights.floats]
    forest.attribute.append(helper.make_attribute("aggregate_function", "AVERAGE"))
    export("voting_average_trees_diabetes", None, x_train, x_test, "regressor", onx=onx)
    export("bagging_trees_diabetes",
           BaggingRegressor(DecisionTreeRegressor(max_depth=4), n_estimators=5, random_state=0).fit(x_train, y_train),
           x_train, x_test, "regressor")
    export("bagging_ridge_diabetes", BaggingRegressor(Ridge(alpha=0.1), n_estimators=5, random_state=0)
           .fit(x_train, y_train), x_train, x_test, "regressor")
    stacked = StackingRegressor([("forest", RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)),
                                 ("boosted", GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0))],
                                final_estimator=Ridge(alpha=1.0))
    export("stacking_trees_diabetes", stacked.fit(x_train, y_train), x_train, x_test, "regressor")
    stacked_mixed = StackingRegressor([("forest", RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)),
                                       ("ridge", Ridge())], final_estimator=Ridge())
    export("stacking_mixed_diabetes", stacked_mixed.fit(x_train, y_train), x_train, x_test, "unsupported",
           refused="ai.onnx.ml::LinearRegressor")
    mixed = VotingRegressor([("forest", RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)),
                             ("ridge", Ridge())])
    export("voting_mixed_diabetes", mixed.fit(x_train, y_train), x_train, x_test, "unsupported", refused="Sum")
    export("adaboost_diabetes", AdaBoostRegressor(DecisionTreeRegressor(max_depth=3), n_estimators=10, random_state=0)
           .fit(x_train, y_train), x_train, x_test, "unsupported", refused="Concat")
    # Refused by name: a mean of boosted classifiers' probabilities (each after its logistic).
    cancer = load_breast_cancer()
    export("bagging_gbdt_breast_cancer",
           BaggingClassifier(GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0), n_estimators=3,
                             random_state=0).fit(cancer.data, cancer.target),
           cancer.data, cancer.data, "unsupported", refused="ReduceMean")
    iris = load_iris()
    x_train, x_test, y_train, _ = train_test_split(iris.data, iris.target, test_size=0.3, random_state=0)
    export("bagging_trees_iris", BaggingClassifier(DecisionTreeClassifier(max_depth=4), n_estimators=5, random_state=0)
           .fit(x_train, y_train), x_train, x_test, "classifier")
    # Soft voting of two forests (skl2onnx exports a VotingClassifier only with
    # flatten_transform=False): their probabilities times the weights, summed.
    soft = VotingClassifier([("forest", RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)),
                             ("extra", ExtraTreesClassifier(n_estimators=10, max_depth=4, random_state=0))],
                            voting="soft", weights=np.array([2.0, 1.0]), flatten_transform=False)
    export("voting_soft_trees_iris", soft.fit(x_train, y_train), x_train, x_test, "classifier")


def sklearn_only():
    """Only the corpus's further scikit-learn estimators, merged into its manifest."""
    added = []
    sklearn_pipelines(sklearn_exporter(os.path.join(OUT, "corpus"), added))
    sklearn_ensembles(sklearn_exporter(os.path.join(OUT, "corpus"), added))
    merge(added)


def ensembles_only():
    """Only the corpus's ensembles, merged into its manifest."""
    added = []
    sklearn_ensembles(sklearn_exporter(os.path.join(OUT, "corpus"), added))
    merge(added)


def exporter_patterns(out, manifest):
    """Graphs as other exporters write them (PyTorch's dynamic flatten and Dropout, Keras'
    NHWC transposes, explicit Pad, Sub/Div normalization, grouped and dilated convolutions,
    Squeeze/Unsqueeze, LogSoftmax), with seeded random weights: each is checked against
    onnxruntime on held-back rows, a regressor to its one output, a classifier by label."""
    rng = np.random.default_rng(12)

    def w(*shape, scale=0.4):
        return numpy_helper.from_array(rng.normal(0, scale, shape).astype(np.float32))

    def save(name, nodes, inits, input_shape, kind, x, opset=OPSET):
        for i, (key, t) in enumerate(inits):
            t.name = key
        graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
                                  [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", None])],
                                  [t for _, t in inits])
        onx = helper.make_model(graph, producer_name="verdict-train", opset_imports=[helper.make_opsetid("", opset)])
        onx.ir_version = 8
        onnx.checker.check_model(onx)
        path = os.path.join(out, f"{name}.onnx")
        onnx.save(onx, path)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        shape = [1] + [d for d in input_shape[1:]]
        y = np.concatenate([sess.run(None, {"input": r.reshape(shape).astype(np.float32)})[0].reshape(1, -1)
                            for r in x[300:]])
        doc = {"inputs": x[300:].astype(np.float32).astype(float).tolist()}
        if kind == "classifier":
            doc["labels"] = [int(v) for v in y.argmax(1)]
        else:
            doc["outputs"] = y.astype(float).tolist()
        with open(os.path.join(out, f"{name}.heldout.json"), "w") as f:
            json.dump(doc, f)
            f.write("\n")
        np.savetxt(os.path.join(out, f"{name}.calibration.csv"), x[:300].astype(np.float32), delimiter=",", fmt="%.7g")
        manifest.append({"name": name, "kind": kind})
        print(f"  corpus: {name} ({kind})")

    node = helper.make_node
    images = (load_digits().data / 16.0)[:400]
    vectors = rng.uniform(-2.0, 2.0, (400, 10))
    vectors[0], vectors[1] = 2.0, -2.0
    i64 = lambda v: numpy_helper.from_array(np.array(v, np.int64))
    # PyTorch's x.view(x.size(0), -1) on an image, then Linear, ReLU, Dropout, Linear.
    save("torch_view_dropout", [
        node("Shape", ["input"], ["shape"]), node("Gather", ["shape", "zero"], ["batch"], axis=0),
        node("Unsqueeze", ["batch", "axis0"], ["batch1"]), node("Concat", ["batch1", "minus1"], ["flat_shape"], axis=0),
        node("Reshape", ["input", "flat_shape"], ["flat"]),
        node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["fc1"], transB=1), node("Relu", ["fc1"], ["relu1"]),
        node("Dropout", ["relu1", "ratio"], ["drop1"]),
        node("Gemm", ["drop1", "fc2.weight", "fc2.bias"], ["output"], transB=1)],
        [("zero", i64(0)), ("axis0", i64([0])), ("minus1", i64([-1])), ("ratio", numpy_helper.from_array(np.array(0.5, np.float32))),
         ("fc1.weight", w(24, 64)), ("fc1.bias", w(24, scale=0.1)), ("fc2.weight", w(1, 24)), ("fc2.bias", w(1, scale=0.1))],
        ["batch", 1, 8, 8], "regressor", images.reshape(400, 64))
    # Normalization as Sub and Div nodes, Keras-style MatMul/Add layers, a LogSoftmax head.
    save("sub_div_logsoftmax", [
        node("Sub", ["input", "mean"], ["centered"]), node("Div", ["centered", "std"], ["scaled"]),
        node("MatMul", ["scaled", "dense.kernel"], ["mm1"]), node("Add", ["mm1", "dense.bias"], ["fc1"]),
        node("Relu", ["fc1"], ["relu1"]),
        node("MatMul", ["relu1", "dense_1.kernel"], ["mm2"]), node("Add", ["mm2", "dense_1.bias"], ["logits"]),
        node("LogSoftmax", ["logits"], ["output"], axis=1)],
        [("mean", w(10, scale=0.5)), ("std", numpy_helper.from_array((rng.uniform(0.5, 2.0, 10)).astype(np.float32))),
         ("dense.kernel", w(10, 16)), ("dense.bias", w(16, scale=0.1)), ("dense_1.kernel", w(16, 4)),
         ("dense_1.bias", w(4, scale=0.1))],
        ["batch", 10], "classifier", vectors)
    # Keras/tf2onnx: an NHWC input transposed to NCHW, Conv, Relu, transposed back before the
    # flatten (so the dense layer reads NHWC order).
    save("keras_nhwc_conv", [
        node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
        node("Conv", ["nchw", "conv.kernel", "conv.bias"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Relu", ["conv"], ["relu"]), node("Transpose", ["relu"], ["nhwc"], perm=[0, 2, 3, 1]),
        node("Reshape", ["nhwc", "flat_shape"], ["flat"]),
        node("MatMul", ["flat", "dense.kernel"], ["mm"]), node("Add", ["mm", "dense.bias"], ["output"])],
        [("conv.kernel", w(3, 1, 3, 3)), ("conv.bias", w(3, scale=0.1)), ("flat_shape", i64([-1, 192])),
         ("dense.kernel", w(192, 1, scale=0.5)), ("dense.bias", w(1, scale=0.1))],
        ["batch", 8, 8, 1], "regressor", images.reshape(400, 64))
    # An explicit reflect Pad, a dilated conv, a depthwise conv (group = channels) and a constant
    # Pad before it, a global average pool, Squeeze of the pooled [1, C, 1, 1].
    save("pad_dilated_depthwise", [
        node("Pad", ["input", "pads1"], ["padded1"], mode="reflect"),
        node("Conv", ["padded1", "conv1.weight", "conv1.bias"], ["conv1"], kernel_shape=[3, 3], dilations=[2, 2]),
        node("Relu", ["conv1"], ["relu1"]),
        node("Pad", ["relu1", "pads2"], ["padded2"]),
        node("Conv", ["padded2", "conv2.weight", "conv2.bias"], ["conv2"], kernel_shape=[3, 3], group=4),
        node("Relu", ["conv2"], ["relu2"]), node("GlobalAveragePool", ["relu2"], ["pool"]),
        node("Squeeze", ["pool", "axes"], ["squeezed"]),
        node("Gemm", ["squeezed", "fc.weight", "fc.bias"], ["output"], transB=1)],
        [("pads1", i64([0, 0, 2, 2, 0, 0, 2, 2])), ("conv1.weight", w(4, 1, 3, 3)), ("conv1.bias", w(4, scale=0.1)),
         ("pads2", i64([0, 0, 1, 1, 0, 0, 1, 1])), ("conv2.weight", w(4, 1, 3, 3)), ("conv2.bias", w(4, scale=0.1)),
         ("axes", i64([2, 3])), ("fc.weight", w(1, 4, scale=20.0)), ("fc.bias", w(1, scale=0.1))],
        ["batch", 1, 8, 8], "regressor", images.reshape(400, 64))
    # Gemm's alpha and beta, an Unsqueeze/Squeeze pair, a flat input reshaped to an image for a
    # grouped convolution (2 groups).
    save("reshape_grouped_conv", [
        node("Reshape", ["input", "image_shape"], ["image"]),
        node("Conv", ["image", "conv.weight"], ["conv"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        node("Relu", ["conv"], ["relu"]),
        node("Conv", ["relu", "grouped.weight", "grouped.bias"], ["grouped"], kernel_shape=[3, 3], group=2),
        node("Relu", ["grouped"], ["relu2"]), node("Flatten", ["relu2"], ["flat"]),
        node("Unsqueeze", ["flat", "axis2"], ["column"]), node("Squeeze", ["column", "axis2"], ["row"]),
        node("Gemm", ["row", "fc.weight", "fc.bias"], ["output"], transB=1, alpha=0.5, beta=2.0)],
        [("image_shape", i64([1, 1, 8, 8])), ("conv.weight", w(4, 1, 3, 3)), ("grouped.weight", w(6, 2, 3, 3)),
         ("grouped.bias", w(6, scale=0.1)), ("axis2", i64([2])), ("fc.weight", w(1, 24, scale=2.0)), ("fc.bias", w(1, scale=0.1))],
        ["batch", 64], "regressor", images.reshape(400, 64))
    # skl2onnx's float64 exports (`to_onnx` on float64 rows): DOUBLE input and initializers.
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression
    from skl2onnx import to_onnx
    x, y = load_diabetes(return_X_y=True)
    digits = load_digits()
    for name, model, rows, kind in [
        ("linreg_diabetes_double", LinearRegression().fit(x[:300], y[:300]), x, "regressor"),
        ("mlp_digits_double", MLPClassifier(hidden_layer_sizes=(16,), max_iter=400, random_state=0)
         .fit(digits.data[:1000] / 16.0, digits.target[:1000]), digits.data[:1400] / 16.0, "classifier"),
    ]:
        # onnxruntime's ZipMap takes no float64 probabilities: the classifier without it.
        options = {id(model): {"zipmap": False}} if kind == "classifier" else None
        onx = to_onnx(model, rows[:1].astype(np.float64), target_opset={"": 13, "ai.onnx.ml": 3}, options=options)
        path = os.path.join(out, f"{name}.onnx")
        onnx.save(onx, path)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        heldout = rows[-100:].astype(np.float64)
        result = sess.run(None, {sess.get_inputs()[0].name: heldout})[0]
        doc = {"inputs": heldout.tolist()}
        if kind == "classifier":
            doc["labels"] = [int(v) for v in result]
        else:
            doc["outputs"] = result.reshape(len(heldout), -1).astype(float).tolist()
        with open(os.path.join(out, f"{name}.heldout.json"), "w") as f:
            json.dump(doc, f)
            f.write("\n")
        np.savetxt(os.path.join(out, f"{name}.calibration.csv"), rows[:300], delimiter=",", fmt="%.7g")
        manifest.append({"name": name, "kind": kind})
        print(f"  corpus: {name} ({kind})")
    # Unbounded smooth activations between two layers (imported in piecewise-linear form):
    # Elu, Selu, Softplus, Gelu (opset 20), HardSwish (14), Mish (18) and SiLU as PyTorch exports it
    # (Sigmoid, then Mul).
    for act, opset in [("Elu", OPSET), ("Selu", OPSET), ("Softplus", OPSET), ("Gelu", 20), ("Silu", OPSET),
                       ("HardSwish", 14), ("Mish", 18)]:
        between = ([node("Sigmoid", ["fc1"], ["gate"]), node("Mul", ["fc1", "gate"], ["act1"])] if act == "Silu"
                   else [node(act, ["fc1"], ["act1"])])
        save(f"{act.lower()}_mlp", [node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["fc1"], transB=1)] + between
             + [node("Gemm", ["act1", "fc2.weight", "fc2.bias"], ["output"], transB=1)],
             [("fc1.weight", w(16, 10, scale=0.8)), ("fc1.bias", w(16, scale=0.5)), ("fc2.weight", w(1, 16)),
              ("fc2.bias", w(1, scale=0.1))],
             ["batch", 10], "regressor", vectors, opset=opset)
    # Activations as elementwise nodes, as exporters write what their opset lacks (recognized by
    # evaluating the subgraph): PyTorch's nn.GELU below opset 20 (Div by sqrt 2, Erf, Add 1, Mul,
    # Mul by 0.5, with Constant nodes between), its tanh approximation (Pow for the cube), the
    # transformers' form (0.5 x first, Mul by 1/sqrt 2), Keras' hard swish x * relu6(x + 3) / 6 and
    # Mish written out; then GELU's tanh form as one Gelu node (opset 20), and PRelu with a slope
    # per unit (after Gemm) and per channel (after Conv).
    const = lambda name, v: node("Constant", [], [name], value=numpy_helper.from_array(np.array(v, np.float32)))
    written = {
        "gelu_erf_nodes": [const("sqrt2", 1.4142135381698608), node("Div", ["fc1", "sqrt2"], ["d"]),
                           node("Erf", ["d"], ["e"]), const("one", 1.0), node("Add", ["e", "one"], ["a"]),
                           node("Mul", ["fc1", "a"], ["m"]), const("half", 0.5), node("Mul", ["m", "half"], ["act1"])],
        "gelu_tanh_nodes": [const("three", 3.0), node("Pow", ["fc1", "three"], ["cube"]),
                            const("c", 0.044715), node("Mul", ["cube", "c"], ["cc"]), node("Add", ["fc1", "cc"], ["inner"]),
                            const("k", 0.7978845834732056), node("Mul", ["inner", "k"], ["scaled"]),
                            node("Tanh", ["scaled"], ["t"]), const("one", 1.0), node("Add", ["t", "one"], ["a"]),
                            const("half", 0.5), node("Mul", ["fc1", "half"], ["h"]), node("Mul", ["h", "a"], ["act1"])],
        "gelu_half_first_nodes": [const("half", 0.5), node("Mul", ["fc1", "half"], ["h"]),
                                  const("inv_sqrt2", 0.7071067690849304), node("Mul", ["fc1", "inv_sqrt2"], ["d"]),
                                  node("Erf", ["d"], ["e"]), const("one", 1.0), node("Add", ["one", "e"], ["a"]),
                                  node("Mul", ["h", "a"], ["act1"])],
        "hard_swish_nodes": [const("three", 3.0), node("Add", ["fc1", "three"], ["s"]), const("zero", 0.0),
                             const("six", 6.0), node("Clip", ["s", "zero", "six"], ["r6"]),
                             node("Mul", ["fc1", "r6"], ["m"]), node("Div", ["m", "six"], ["act1"])],
        "mish_nodes": [node("Softplus", ["fc1"], ["sp"]), node("Tanh", ["sp"], ["t"]), node("Mul", ["t", "fc1"], ["act1"])],
    }
    for name, between in written.items():
        save(name, [node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["fc1"], transB=1)] + between
             + [node("Gemm", ["act1", "fc2.weight", "fc2.bias"], ["output"], transB=1)],
             [("fc1.weight", w(16, 10, scale=0.8)), ("fc1.bias", w(16, scale=0.5)), ("fc2.weight", w(1, 16)),
              ("fc2.bias", w(1, scale=0.1))],
             ["batch", 10], "regressor", vectors)
    save("gelu_tanh_mlp", [node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["fc1"], transB=1),
                           node("Gelu", ["fc1"], ["act1"], approximate="tanh"),
                           node("Gemm", ["act1", "fc2.weight", "fc2.bias"], ["output"], transB=1)],
         [("fc1.weight", w(16, 10, scale=0.8)), ("fc1.bias", w(16, scale=0.5)), ("fc2.weight", w(1, 16)),
          ("fc2.bias", w(1, scale=0.1))],
         ["batch", 10], "regressor", vectors, opset=20)
    slopes = lambda *shape: numpy_helper.from_array(rng.uniform(-0.3, 0.6, shape).astype(np.float32))
    save("prelu_mlp", [node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["fc1"], transB=1),
                       node("PRelu", ["fc1", "slope"], ["act1"]),
                       node("Gemm", ["act1", "fc2.weight", "fc2.bias"], ["output"], transB=1)],
         [("fc1.weight", w(16, 10, scale=0.8)), ("fc1.bias", w(16, scale=0.5)), ("slope", slopes(16)),
          ("fc2.weight", w(1, 16)), ("fc2.bias", w(1, scale=0.1))],
         ["batch", 10], "regressor", vectors)
    save("prelu_conv", [node("Conv", ["input", "conv.weight", "conv.bias"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                        node("PRelu", ["c1", "slope"], ["p1"]), node("Flatten", ["p1"], ["flat"], axis=1),
                        node("Gemm", ["flat", "fc.weight", "fc.bias"], ["output"], transB=1)],
         [("conv.weight", w(4, 1, 3, 3)), ("conv.bias", w(4, scale=0.1)), ("slope", slopes(4, 1, 1)),
          ("fc.weight", w(1, 256, scale=0.1)), ("fc.bias", w(1, scale=0.1))],
         ["batch", 1, 8, 8], "regressor", images.reshape(400, 64))
    # A 1-D CNN over a window of two series (a price and a volume, say): Conv1d, BatchNorm1d,
    # ReLU, MaxPool1d, Conv1d, ReLU, global average pooling, Linear, as PyTorch writes them.
    series = rng.normal(0, 1, (400, 2, 16)).cumsum(axis=2)
    series /= np.abs(series).max(axis=(1, 2), keepdims=True)  # each window normalized, as a feed would
    save("conv1d_series", [
        node("Conv", ["input", "c1.weight", "c1.bias"], ["c1"], kernel_shape=[3], pads=[1, 1]),
        node("BatchNormalization", ["c1", "bn.weight", "bn.bias", "bn.mean", "bn.var"], ["b1"]),
        node("Relu", ["b1"], ["r1"]), node("MaxPool", ["r1"], ["p1"], kernel_shape=[2], strides=[2]),
        node("Conv", ["p1", "c2.weight", "c2.bias"], ["c2"], kernel_shape=[3], dilations=[2], pads=[2, 2]),
        node("Relu", ["c2"], ["r2"]), node("GlobalAveragePool", ["r2"], ["g"]), node("Flatten", ["g"], ["f"]),
        node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], transB=1)],
        [("c1.weight", w(6, 2, 3)), ("c1.bias", w(6, scale=0.1)), ("bn.weight", w(6, scale=0.2)),
         ("bn.bias", w(6, scale=0.1)), ("bn.mean", w(6, scale=0.1)),
         ("bn.var", numpy_helper.from_array(rng.uniform(0.5, 1.5, 6).astype(np.float32))),
         ("c2.weight", w(8, 6, 3)), ("c2.bias", w(8, scale=0.1)), ("fc.weight", w(1, 8)), ("fc.bias", w(1, scale=0.1))],
        ["batch", 2, 16], "regressor", series.reshape(400, 32))
    # Global average pooling as a mean: PyTorch's x.mean((2, 3)), and Keras' over NHWC (a
    # Transpose, then ReduceMean over axes 1 and 2 given as an input, opset 18); ReLU as Max(x, 0).
    save("mean_pool_cnn", [
        node("Conv", ["input", "conv.weight", "conv.bias"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], ["r1"]), node("ReduceMean", ["r1"], ["g"], axes=[2, 3], keepdims=0),
        node("Gemm", ["g", "fc.weight", "fc.bias"], ["output"], transB=1)],
        [("conv.weight", w(6, 1, 3, 3)), ("conv.bias", w(6, scale=0.1)), ("fc.weight", w(1, 6)),
         ("fc.bias", w(1, scale=0.1))],
        ["batch", 1, 8, 8], "regressor", images.reshape(400, 64))
    save("keras_mean_nhwc", [
        node("Conv", ["input", "conv.weight", "conv.bias"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Max", ["c1", "zero"], ["r1"]), node("Transpose", ["r1"], ["t"], perm=[0, 2, 3, 1]),
        node("ReduceMean", ["t", "axes"], ["g"], keepdims=0),
        node("MatMul", ["g", "dense.kernel"], ["mm"]), node("Add", ["mm", "dense.bias"], ["output"])],
        [("conv.weight", w(6, 1, 3, 3)), ("conv.bias", w(6, scale=0.1)),
         ("zero", numpy_helper.from_array(np.array(0.0, np.float32))), ("axes", i64([1, 2])),
         ("dense.kernel", w(6, 1)), ("dense.bias", w(1, scale=0.1))],
        ["batch", 1, 8, 8], "regressor", images.reshape(400, 64), opset=18)
    # Pools with ceil_mode (PyTorch's nn.MaxPool2d(..., ceil_mode=True)) on an odd 7x7 map: each
    # one's last window reaches past the input (and its padding).
    for name, pool in [("maxpool_ceil_cnn", node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2],
                                                   ceil_mode=1)),
                       ("avgpool_ceil_cnn", node("AveragePool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2],
                                                   pads=[1, 1, 1, 1], ceil_mode=1))]:
        save(name, [node("Conv", ["input", "conv.weight", "conv.bias"], ["c1"], kernel_shape=[2, 2]),
                    node("Relu", ["c1"], ["r1"]), pool, node("Flatten", ["p1"], ["f"]),
                    node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], transB=1)],
             [("conv.weight", w(3, 1, 2, 2)), ("conv.bias", w(3, scale=0.1)), ("fc.weight", w(1, 48, scale=0.2)),
              ("fc.bias", w(1, scale=0.1))],
             ["batch", 1, 8, 8], "regressor", images.reshape(400, 64))
    # Residual blocks as PyTorch writes them: an MLP's `relu(x + fc3(relu(fc2(x))))`, and a
    # ResNet basic block (Conv, BatchNorm, ReLU, Conv, BatchNorm, then the shortcut added before
    # the ReLU), the shortcut's tensor first in the Add.
    save("residual_mlp", [
        node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["fc1"], transB=1), node("Relu", ["fc1"], ["x1"]),
        node("Gemm", ["x1", "fc2.weight", "fc2.bias"], ["fc2"], transB=1), node("Relu", ["fc2"], ["r2"]),
        node("Gemm", ["r2", "fc3.weight", "fc3.bias"], ["fc3"], transB=1), node("Add", ["fc3", "x1"], ["s1"]),
        node("Relu", ["s1"], ["x2"]),
        node("Gemm", ["x2", "fc4.weight", "fc4.bias"], ["fc4"], transB=1), node("Add", ["fc4", "x2"], ["s2"]),
        node("Relu", ["s2"], ["x3"]),
        node("Gemm", ["x3", "fc5.weight", "fc5.bias"], ["output"], transB=1)],
        [("fc1.weight", w(16, 10, scale=0.5)), ("fc1.bias", w(16, scale=0.2)), ("fc2.weight", w(24, 16, scale=0.3)),
         ("fc2.bias", w(24, scale=0.1)), ("fc3.weight", w(16, 24, scale=0.3)), ("fc3.bias", w(16, scale=0.1)),
         ("fc4.weight", w(16, 16, scale=0.3)), ("fc4.bias", w(16, scale=0.1)),
         ("fc5.weight", w(1, 16, scale=0.4)), ("fc5.bias", w(1, scale=0.1))],
        ["batch", 10], "regressor", vectors)
    bn = lambda prefix, c: [(f"{prefix}.weight", numpy_helper.from_array(rng.uniform(0.5, 1.5, c).astype(np.float32))),
                            (f"{prefix}.bias", w(c, scale=0.1)), (f"{prefix}.mean", w(c, scale=0.1)),
                            (f"{prefix}.var", numpy_helper.from_array(rng.uniform(0.5, 1.5, c).astype(np.float32)))]
    batch_norm = lambda prefix, x, y: node("BatchNormalization", [x] + [f"{prefix}.{k}" for k in
                                                                        ("weight", "bias", "mean", "var")], [y])
    save("resnet_block_cnn", [
        node("Conv", ["input", "c1.weight"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        batch_norm("bn1", "c1", "b1"), node("Relu", ["b1"], ["x"]),
        node("Conv", ["x", "c2.weight"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        batch_norm("bn2", "c2", "b2"), node("Relu", ["b2"], ["r2"]),
        node("Conv", ["r2", "c3.weight"], ["c3"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        batch_norm("bn3", "c3", "b3"), node("Add", ["x", "b3"], ["s"]), node("Relu", ["s"], ["y"]),
        node("GlobalAveragePool", ["y"], ["g"]), node("Flatten", ["g"], ["f"]),
        node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], transB=1)],
        [("c1.weight", w(4, 1, 3, 3)), *bn("bn1", 4), ("c2.weight", w(4, 4, 3, 3, scale=0.3)), *bn("bn2", 4),
         ("c3.weight", w(4, 4, 3, 3, scale=0.3)), *bn("bn3", 4), ("fc.weight", w(1, 4)), ("fc.bias", w(1, scale=0.1))],
        ["batch", 1, 8, 8], "regressor", images.reshape(400, 64))
    # A ResNet downsampling block: a strided 3x3 convolution on the main path and, on the
    # shortcut, the 1x1 strided convolution and batch norm of torchvision's `downsample` (its
    # nodes after the main path's, as PyTorch traces them).
    save("resnet_downsample_cnn", [
        node("Conv", ["input", "c1.weight", "c1.bias"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], ["x"]),
        node("Conv", ["x", "c2.weight"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        batch_norm("bn2", "c2", "b2"), node("Relu", ["b2"], ["r2"]),
        node("Conv", ["r2", "c3.weight"], ["c3"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        batch_norm("bn3", "c3", "b3"),
        node("Conv", ["x", "ds.weight"], ["ds"], kernel_shape=[1, 1], strides=[2, 2]),
        batch_norm("bnd", "ds", "d"), node("Add", ["b3", "d"], ["s"]), node("Relu", ["s"], ["y"]),
        node("Flatten", ["y"], ["f"]), node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], transB=1)],
        [("c1.weight", w(3, 1, 3, 3)), ("c1.bias", w(3, scale=0.1)), ("c2.weight", w(6, 3, 3, 3, scale=0.3)),
         *bn("bn2", 6), ("c3.weight", w(6, 6, 3, 3, scale=0.3)), *bn("bn3", 6), ("ds.weight", w(6, 3, 1, 1)),
         *bn("bnd", 6), ("fc.weight", w(1, 96, scale=0.2)), ("fc.bias", w(1, scale=0.1))],
        ["batch", 1, 8, 8], "regressor", images.reshape(400, 64))
    # Wide & Deep on tabular features: a linear model of the input added to an MLP's output.
    save("wide_deep", [
        node("Gemm", ["input", "wide.weight", "wide.bias"], ["wide"], transB=1),
        node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["fc1"], transB=1), node("Relu", ["fc1"], ["r1"]),
        node("Gemm", ["r1", "fc2.weight", "fc2.bias"], ["fc2"], transB=1), node("Relu", ["fc2"], ["r2"]),
        node("Gemm", ["r2", "fc3.weight", "fc3.bias"], ["deep"], transB=1),
        node("Add", ["wide", "deep"], ["output"])],
        [("wide.weight", w(1, 10)), ("wide.bias", w(1, scale=0.1)), ("fc1.weight", w(16, 10, scale=0.5)),
         ("fc1.bias", w(16, scale=0.2)), ("fc2.weight", w(16, 16, scale=0.3)), ("fc2.bias", w(16, scale=0.1)),
         ("fc3.weight", w(1, 16, scale=0.4)), ("fc3.bias", w(1, scale=0.1))],
        ["batch", 10], "regressor", vectors)
    # Concatenated shortcuts: a DenseNet-style block (a layer's input and output concatenated over
    # channels), and Keras' Wide & Deep (the input concatenated with a hidden layer's output).
    save("dense_block_cnn", [
        node("Conv", ["input", "c1.weight", "c1.bias"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], ["x"]),
        node("Conv", ["x", "c2.weight"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        batch_norm("bn2", "c2", "b2"), node("Relu", ["b2"], ["r2"]),
        node("Concat", ["x", "r2"], ["cat"], axis=1), node("GlobalAveragePool", ["cat"], ["g"]),
        node("Flatten", ["g"], ["f"]), node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], transB=1)],
        [("c1.weight", w(3, 1, 3, 3)), ("c1.bias", w(3, scale=0.1)), ("c2.weight", w(4, 3, 3, 3, scale=0.3)),
         *bn("bn2", 4), ("fc.weight", w(1, 7)), ("fc.bias", w(1, scale=0.1))],
        ["batch", 1, 8, 8], "regressor", images.reshape(400, 64))
    save("keras_wide_deep", [
        node("MatMul", ["input", "dense.kernel"], ["mm1"]), node("Add", ["mm1", "dense.bias"], ["z1"]),
        node("Relu", ["z1"], ["h"]), node("Concat", ["input", "h"], ["cat"], axis=-1),
        node("MatMul", ["cat", "out.kernel"], ["mm2"]), node("Add", ["mm2", "out.bias"], ["output"])],
        [("dense.kernel", w(10, 12, scale=0.5)), ("dense.bias", w(12, scale=0.2)), ("out.kernel", w(22, 1, scale=0.3)),
         ("out.bias", w(1, scale=0.1))],
        ["batch", 10], "regressor", vectors)
    # Global max pooling as Keras writes it over NHWC (a Transpose, then ReduceMax over axes 1
    # and 2), and a sum over positions (ReduceSum); a MaxPool after a Transpose back to NCHW.
    save("keras_max_nhwc", [
        node("Conv", ["input", "conv.weight", "conv.bias"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], ["r1"]), node("Transpose", ["r1"], ["t"], perm=[0, 2, 3, 1]),
        node("ReduceMax", ["t"], ["g"], axes=[1, 2], keepdims=0),
        node("MatMul", ["g", "dense.kernel"], ["mm"]), node("Add", ["mm", "dense.bias"], ["output"])],
        [("conv.weight", w(5, 1, 3, 3)), ("conv.bias", w(5, scale=0.1)), ("dense.kernel", w(5, 1)),
         ("dense.bias", w(1, scale=0.1))],
        ["batch", 1, 8, 8], "regressor", images.reshape(400, 64))
    save("sum_pool_nhwc_maxpool", [
        node("Conv", ["input", "conv.weight", "conv.bias"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], ["r1"]), node("Transpose", ["r1"], ["t1"], perm=[0, 2, 3, 1]),
        node("Transpose", ["t1"], ["t2"], perm=[0, 3, 1, 2]),
        node("MaxPool", ["t2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        node("ReduceSum", ["p", "axes"], ["g"], keepdims=0),
        node("Gemm", ["g", "fc.weight", "fc.bias"], ["output"], transB=1)],
        [("conv.weight", w(4, 1, 3, 3)), ("conv.bias", w(4, scale=0.1)), ("axes", i64([2, 3])),
         ("fc.weight", w(1, 4, scale=0.2)), ("fc.bias", w(1, scale=0.1))],
        ["batch", 1, 8, 8], "regressor", images.reshape(400, 64))
    # A price model that reads the last 16 values of a 32-value window (PyTorch's `x[:, -16:]`, a
    # Slice of the input) and every other value of its hidden layer (`h[:, ::2]`).
    window = rng.normal(0, 1, (400, 32)).cumsum(axis=1)
    window /= np.abs(window).max(axis=1, keepdims=True)
    save("slice_window_mlp", [
        node("Slice", ["input", "start", "end", "axis1"], ["last16"]),
        node("Gemm", ["last16", "fc1.weight", "fc1.bias"], ["fc1"], transB=1), node("Relu", ["fc1"], ["h"]),
        node("Slice", ["h", "zero", "end", "axis1", "two"], ["half"]),
        node("Gemm", ["half", "fc2.weight", "fc2.bias"], ["output"], transB=1)],
        [("start", i64([-16])), ("end", i64([2**62])), ("axis1", i64([1])), ("zero", i64([0])), ("two", i64([2])),
         ("fc1.weight", w(24, 16, scale=0.4)), ("fc1.bias", w(24, scale=0.1)), ("fc2.weight", w(1, 12)),
         ("fc2.bias", w(1, scale=0.1))],
        ["batch", 32], "regressor", window)
    # A tabular ResNet (Gorishniy et al.'s: a residual stream with no activation between blocks,
    # each block BatchNorm, Linear, ReLU, Linear, then the stream added; a BatchNorm and ReLU
    # before the head).
    block = lambda k, x, y: [
        batch_norm(f"b{k}", x, f"n{k}"),
        node("Gemm", [f"n{k}", f"f{k}a.weight", f"f{k}a.bias"], [f"h{k}"], transB=1), node("Relu", [f"h{k}"], [f"r{k}"]),
        node("Gemm", [f"r{k}", f"f{k}b.weight", f"f{k}b.bias"], [f"d{k}"], transB=1), node("Add", [x, f"d{k}"], [y])]
    save("tabular_resnet", [
        node("Gemm", ["input", "fc0.weight", "fc0.bias"], ["s0"], transB=1), *block(1, "s0", "s1"), *block(2, "s1", "s2"),
        batch_norm("bh", "s2", "nh"), node("Relu", ["nh"], ["rh"]),
        node("Gemm", ["rh", "head.weight", "head.bias"], ["output"], transB=1)],
        [("fc0.weight", w(16, 10, scale=0.4)), ("fc0.bias", w(16, scale=0.1)),
         *bn("b1", 16), ("f1a.weight", w(32, 16, scale=0.3)), ("f1a.bias", w(32, scale=0.1)),
         ("f1b.weight", w(16, 32, scale=0.2)), ("f1b.bias", w(16, scale=0.1)),
         *bn("b2", 16), ("f2a.weight", w(32, 16, scale=0.3)), ("f2a.bias", w(32, scale=0.1)),
         ("f2b.weight", w(16, 32, scale=0.2)), ("f2b.bias", w(16, scale=0.1)),
         *bn("bh", 16), ("head.weight", w(1, 16, scale=0.4)), ("head.bias", w(1, scale=0.1))],
        ["batch", 10], "regressor", vectors)
    # A dense layer at every step of a sequence (PyTorch's nn.Linear on [batch, time, features],
    # Keras' Dense on a sequence: MatMul by [features, units] over the last axis), twice, then a
    # flatten and a head; and once, then the mean over time (Keras' GlobalAveragePooling1D).
    sequences = rng.uniform(-2.0, 2.0, (400, 8 * 4))
    sequences[0], sequences[1] = 2.0, -2.0
    save("per_step_dense_series", [
        node("MatMul", ["input", "d1.weight"], ["d1"]), node("Add", ["d1", "d1.bias"], ["d1b"]),
        node("Relu", ["d1b"], ["r1"]),
        node("MatMul", ["r1", "d2.weight"], ["d2"]), node("Add", ["d2", "d2.bias"], ["d2b"]),
        node("Relu", ["d2b"], ["r2"]), node("Flatten", ["r2"], ["flat"], axis=1),
        node("Gemm", ["flat", "head.weight", "head.bias"], ["output"], transB=1)],
        [("d1.weight", w(4, 16, scale=0.5)), ("d1.bias", w(16, scale=0.1)), ("d2.weight", w(16, 8, scale=0.3)),
         ("d2.bias", w(8, scale=0.1)), ("head.weight", w(1, 64, scale=0.2)), ("head.bias", w(1, scale=0.1))],
        ["batch", 8, 4], "regressor", sequences)
    save("per_step_dense_mean_series", [
        node("MatMul", ["input", "d1.weight"], ["d1"]), node("Add", ["d1", "d1.bias"], ["d1b"]),
        node("Relu", ["d1b"], ["r1"]), node("ReduceMean", ["r1"], ["pooled"], axes=[1], keepdims=0),
        node("Gemm", ["pooled", "head.weight", "head.bias"], ["output"], transB=1)],
        [("d1.weight", w(4, 16, scale=0.5)), ("d1.bias", w(16, scale=0.1)), ("head.weight", w(1, 16, scale=0.4)),
         ("head.bias", w(1, scale=0.1))],
        ["batch", 8, 4], "regressor", sequences, opset=17)
    # scikit-learn's SimpleImputer in front of a pipeline (skl2onnx writes an ai.onnx.ml Imputer
    # of NaN, then the Scaler and the LinearClassifier with its ZipMap).
    from sklearn.datasets import load_breast_cancer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from skl2onnx import to_onnx
    bx, by = load_breast_cancer(return_X_y=True)
    bx = bx.astype(np.float32)
    pipe = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000)).fit(bx[:400], by[:400])
    name = "imputer_logreg_breast_cancer"
    path = os.path.join(out, f"{name}.onnx")
    onnx.save(to_onnx(pipe, bx[:1], target_opset={"": 13, "ai.onnx.ml": 3}), path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    labels = sess.run(None, {sess.get_inputs()[0].name: bx[400:]})[0]
    with open(os.path.join(out, f"{name}.heldout.json"), "w") as f:
        json.dump({"inputs": bx[400:].astype(float).tolist(), "labels": [int(v) for v in labels]}, f)
        f.write("\n")
    np.savetxt(os.path.join(out, f"{name}.calibration.csv"), bx[:300], delimiter=",", fmt="%.7g")
    manifest.append({"name": name, "kind": "classifier"})
    print(f"  corpus: {name} (classifier)")


def exporters():
    """Only the exporter patterns of the corpus, merged into its manifest."""
    added = []
    exporter_patterns(os.path.join(OUT, "corpus"), added)
    merge(added)


MODELS = {"price_feed": lambda: price_feed(), "tictactoe": lambda: tictactoe(), "digits": lambda: digits(),
          "digits_cnn": lambda: digits_cnn(), "digits_1m": lambda: digits_1m(),
          "digits_lenet": lambda: digits_lenet(), "credit": lambda: credit(),
          "credit_gbdt": lambda: credit_gbdt(), "corpus": lambda: corpus(), "exporters": lambda: exporters(),
          "sklearn": lambda: sklearn_only(), "ensembles": lambda: ensembles_only()}

if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name in sys.argv[1:] or list(MODELS):
        if name not in MODELS:
            sys.exit(f"unknown model {name}; known: {', '.join(MODELS)}")
        MODELS[name]()
