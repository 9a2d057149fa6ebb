#!/usr/bin/env python3
"""Build photo-ledger's ONNX models from the TFLite models shipped in MediaPipe 0.10.14.

photo-ledger uses three small vision models, all taken from the `mediapipe`
wheel on PyPI (Apache-2.0):

  face_detection_short_range  BlazeFace: face box + 6 keypoints, 128x128 input
  face_landmark               468-point face mesh + face-presence score, 192x192 crop
  selfie_segmentation         person/background probability mask, 256x256 input

This script rebuilds models/ from scratch:

  1. downloads mediapipe==0.10.14 (manylinux x86_64, CPython 3.11 wheel) with
     `pip download --no-deps` (or uses --wheel) and checks its pinned sha256;
  2. extracts the three .tflite files and the licence;
  3. converts each to ONNX opset 17 with tf2onnx;
  4. replaces MediaPipe's custom `Convolution2DTransposeBias` operator in the
     selfie segmentation model by standard ONNX operators
     (Transpose -> ConvTranspose -> Transpose);
  5. checks every model with onnx.checker, runs it with onnxruntime and compares
     it with the original: TFLite's interpreter for the face models, MediaPipe's
     own runtime for the segmentation model (its custom operator only exists
     there); the run fails if they disagree;
  6. writes models/*.onnx, models/MANIFEST.sha256, models/models.json and
     models/LICENSE-mediapipe.txt.

Run it with any Python 3.11: it creates (or reuses) a virtualenv outside the
repository (default /tmp/convert-venv) from tools/models/requirements.txt and
re-executes itself there. See tools/models/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REQUIREMENTS = HERE / "requirements.txt"
DEFAULT_VENV = Path("/tmp/convert-venv")
VENV_STAMP = ".photo-ledger-requirements.sha256"

MEDIAPIPE_VERSION = "0.10.14"
MEDIAPIPE_WHEEL = (
    "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
)
MEDIAPIPE_WHEEL_SHA256 = "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4"
MEDIAPIPE_LICENSE_PATH = "mediapipe-0.10.14.dist-info/LICENSE"
OPSET = 17

# name -> (path inside the wheel, sha256 of the .tflite)
SOURCES = {
    "face_detection_short_range": (
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    ),
    "face_landmark": (
        "mediapipe/modules/face_landmark/face_landmark.tflite",
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
    ),
    "selfie_segmentation": (
        "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
        "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    ),
}

# Agreement the converted models must reach against the originals.
TOLERANCE = {
    "detection_score_abs": 1e-3,     # sigmoid scores, all 896 anchors
    "detection_regressor_abs": 0.05,  # box/keypoint offsets, in 128-px input pixels
    "landmark_abs": 0.05,             # landmark x/y/z, in 192-px input pixels
    "face_presence_abs": 1e-3,        # sigmoid of the face-presence logit
    "mask_agreement_min": 0.99,       # share of pixels on the same side of 0.5
}

# Static description of each model for models.json (shapes and names are read
# back from onnxruntime; the meanings are MediaPipe's conventions).
DESCRIPTIONS = {
    "face_detection_short_range": {
        "purpose": "BlazeFace short-range face detector (faces within about 2 m of the camera).",
        "input": {
            "layout": "NHWC",
            "channels": "RGB",
            "range": [-1.0, 1.0],
            "normalisation": "pixel / 127.5 - 1",
            "resize": "whole image letterboxed (aspect ratio kept, zero padding) to 128x128",
        },
        "outputs": {
            "regressors": (
                "Per anchor 16 values, in pixels of the 128x128 input: box centre offset "
                "dx, dy from the anchor centre, box width w, height h, then 6 keypoints as "
                "(x, y) offsets from the anchor centre: right eye, left eye, nose tip, mouth "
                "centre, right ear tragion, left ear tragion (the subject's right/left: the "
                "right eye appears on the image's left). Divide by 128 and add the anchor "
                "centre to get coordinates normalised to the input."
            ),
            "classificators": (
                "Per anchor one logit; score = sigmoid(clamp(logit, -100, 100)). "
                "MediaPipe keeps anchors with score >= 0.5 and merges overlaps with "
                "weighted non-maximum suppression (IoU 0.3)."
            ),
        },
        "anchors": {
            "count": 896,
            "input_size": [128, 128],
            "strides": [8, 16, 16, 16],
            "anchors_per_cell": {"8": 2, "16": 6},
            "offset": 0.5,
            "fixed_anchor_size": True,
            "order": (
                "16x16 grid with 2 anchors per cell (stride 8), then 8x8 grid with 6 "
                "anchors per cell (stride 16); cells row by row (y outer, x inner); "
                "anchor centre = ((x + 0.5) / grid, (y + 0.5) / grid), width = height = 1"
            ),
        },
    },
    "face_landmark": {
        "purpose": "468-point face mesh on a face crop, with a face-presence score.",
        "input": {
            "layout": "NHWC",
            "channels": "RGB",
            "range": [0.0, 1.0],
            "normalisation": "pixel / 255",
            "resize": (
                "square crop around the detected face (MediaPipe: detection box made "
                "square on its long side, enlarged 1.5x, rotated so the eyes are level), "
                "resized to 192x192"
            ),
        },
        "outputs": {
            "conv2d_21": (
                "468 landmarks x (x, y, z), flattened to 1404 values; x and y in pixels "
                "of the 192x192 crop, z (relative depth, smaller = nearer the camera) on "
                "the same scale as x. Landmark indices follow MediaPipe's canonical face "
                "mesh."
            ),
            "conv2d_31": (
                "Face-presence logit; probability = sigmoid(logit). MediaPipe treats "
                "probability < 0.5 as 'no face in this crop'."
            ),
        },
    },
    "selfie_segmentation": {
        "purpose": "Person/background segmentation (MediaPipe selfie segmentation, general model).",
        "input": {
            "layout": "NHWC",
            "channels": "RGB",
            "range": [0.0, 1.0],
            "normalisation": "pixel / 255",
            "resize": "whole image stretched to 256x256 (aspect ratio not kept)",
        },
        "outputs": {
            "activation_10": (
                "Person probability per pixel, already passed through a sigmoid "
                "(values in [0, 1]); person where > 0.5. NHWC, one channel. Resize it "
                "back to the image size before use."
            ),
        },
    },
}


def log(msg: str) -> None:
    print(msg, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# Virtualenv bootstrap (runs under any Python; everything else runs in the venv)
# --------------------------------------------------------------------------

def ensure_venv(venv: Path) -> None:
    """Create/refresh the conversion venv and re-execute this script inside it."""
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if sys.version_info[:2] != (3, 11):
        log(f"warning: requirements are pinned for Python 3.11, this is {sys.version.split()[0]}")
    try:
        venv.resolve().relative_to(REPO)
        sys.exit(f"refusing to create the virtualenv inside the repository: {venv}")
    except ValueError:
        pass
    py = venv / "bin" / "python"
    if not py.exists():
        log(f"creating virtualenv {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    want = sha256_file(REQUIREMENTS)
    stamp = venv / VENV_STAMP
    if not stamp.exists() or stamp.read_text().strip() != want:
        log(f"installing {REQUIREMENTS.relative_to(REPO)} into {venv} (a few minutes the first time)")
        subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "-r", str(REQUIREMENTS)],
            check=True,
        )
        stamp.write_text(want + "\n")
    os.execve(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]], child_env())


def child_env() -> dict:
    # tf2onnx numbers the tensors it creates while iterating over sets; a fixed
    # hash seed makes those names, and so the model bytes, reproducible.
    return dict(os.environ, PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="2", PYTHONDONTWRITEBYTECODE="1")


def ensure_hash_seed() -> None:
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]], child_env())


# --------------------------------------------------------------------------
# Step 1-2: wheel download and extraction
# --------------------------------------------------------------------------

def obtain_wheel(work: Path, wheel_arg: str | None) -> Path:
    if wheel_arg:
        wheel = Path(wheel_arg).resolve()
    else:
        log(f"downloading mediapipe=={MEDIAPIPE_VERSION} with pip download --no-deps")
        dl = work / "wheel"
        dl.mkdir()
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "--implementation", "cp",
             "--python-version", "3.11", "--abi", "cp311",
             "--platform", "manylinux_2_17_x86_64", "--dest", str(dl),
             f"mediapipe=={MEDIAPIPE_VERSION}"],
            check=True,
        )
        wheel = dl / MEDIAPIPE_WHEEL
    if not wheel.is_file():
        sys.exit(f"wheel not found: {wheel}")
    got = sha256_file(wheel)
    if got != MEDIAPIPE_WHEEL_SHA256:
        sys.exit(f"{wheel.name}: sha256 {got} does not match pinned {MEDIAPIPE_WHEEL_SHA256}")
    log(f"wheel {wheel.name} sha256 ok")
    return wheel


def extract(wheel: Path, work: Path) -> tuple[dict[str, Path], bytes]:
    out: dict[str, Path] = {}
    with zipfile.ZipFile(wheel) as zf:
        for name, (member, want) in SOURCES.items():
            data = zf.read(member)
            if sha256_bytes(data) != want:
                sys.exit(f"{member}: unexpected sha256 {sha256_bytes(data)}")
            p = work / f"{name}.tflite"
            p.write_bytes(data)
            out[name] = p
        license_text = zf.read(MEDIAPIPE_LICENSE_PATH)
    return out, license_text


# --------------------------------------------------------------------------
# Step 3-4: conversion and the custom-operator rewrite
# --------------------------------------------------------------------------

def convert(tflite: Path):
    import tf2onnx

    model, _ = tf2onnx.convert.from_tflite(str(tflite), opset=OPSET)
    return model


def read_transpose_conv_bias(tflite: Path) -> dict:
    """Read MediaPipe's Convolution2DTransposeBias operator from the flatbuffer.

    Returns its input/output tensor names, float32 weights (OHWI), bias, strides
    and padding. The weights are stored as float16 behind DEQUANTIZE operators;
    they are read from the flatbuffer buffers directly.
    """
    import numpy as np
    from tf2onnx.tflite.Model import Model

    buf = tflite.read_bytes()
    model = Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    producers = {}
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        for t in op.OutputsAsNumpy():
            producers[int(t)] = op

    def tensor_value(index: int):
        t = graph.Tensors(index)
        op = producers.get(index)
        if op is not None:  # DEQUANTIZE(float16 constant) -> float32
            code = model.OperatorCodes(op.OpcodeIndex())
            if code.BuiltinCode() != 6:  # BuiltinOperator.DEQUANTIZE
                raise RuntimeError(f"unexpected producer for {t.Name()}")
            return tensor_value(int(op.InputsAsNumpy()[0])).astype(np.float32)
        dtype = {0: np.float32, 1: np.float16}[t.Type()]
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(t.ShapeAsNumpy())

    found = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if code.CustomCode() == b"Convolution2DTransposeBias":
            found.append(op)
    if len(found) != 1:
        raise RuntimeError(f"expected one Convolution2DTransposeBias, found {len(found)}")
    op = found[0]
    ins = [int(t) for t in op.InputsAsNumpy()]
    outs = [int(t) for t in op.OutputsAsNumpy()]
    # Custom options are MediaPipe's TfLiteTransposeConvParams:
    # int32 padding (1 = SAME, 2 = VALID), int32 stride_width, int32 stride_height.
    padding, stride_w, stride_h = np.frombuffer(op.CustomOptionsAsNumpy().tobytes(), "<i4")[:3]
    return {
        "input": graph.Tensors(ins[0]).Name().decode(),
        "input_shape": [int(d) for d in graph.Tensors(ins[0]).ShapeAsNumpy()],
        "output": graph.Tensors(outs[0]).Name().decode(),
        "weights_ohwi": tensor_value(ins[1]),
        "bias": tensor_value(ins[2]),
        "padding": {1: "SAME", 2: "VALID"}[int(padding)],
        "strides": (int(stride_h), int(stride_w)),
    }


def rewrite_transpose_conv_bias(model, spec: dict):
    """Replace the TFL_Convolution2DTransposeBias node by standard ONNX operators."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    g = model.graph
    idx = [i for i, n in enumerate(g.node) if n.op_type == "TFL_Convolution2DTransposeBias"]
    if len(idx) != 1:
        raise RuntimeError(f"expected one TFL_Convolution2DTransposeBias node, found {len(idx)}")
    i = idx[0]
    node = g.node[i]
    x_name, w_name, b_name = node.input[0], node.input[1], node.input[2]
    y_name = node.output[0]

    w = spec["weights_ohwi"]                        # (C_out, kH, kW, C_in)
    b = spec["bias"]
    c_out, kh, kw, c_in = w.shape
    sh, sw = spec["strides"]
    in_h, in_w = spec["input_shape"][1:3]
    # Output size and padding of a transposed convolution (TFLite semantics):
    # SAME -> out = in * stride, total padding = (in - 1) * stride + k - out.
    if spec["padding"] == "SAME":
        pads_hw = [(in_h - 1) * sh + kh - in_h * sh, (in_w - 1) * sw + kw - in_w * sw]
    else:
        pads_hw = [0, 0]
    if any(p != 0 for p in pads_hw):
        raise RuntimeError(f"padding {pads_hw} not handled (kernel {kh}x{kw}, stride {sh}x{sw})")

    # If tf2onnx kept the constants as initializers, they must match the flatbuffer.
    inits = {t.name: t for t in g.initializer}
    for name, want in ((w_name, w), (b_name, b)):
        if name in inits:
            have = numpy_helper.to_array(inits[name])
            if have.shape != want.shape or not np.array_equal(have, want):
                raise RuntimeError(f"initializer {name} differs from the TFLite tensor")

    prefix = y_name.replace(":", "_")
    w_iohw = np.ascontiguousarray(w.transpose(3, 0, 1, 2)).astype(np.float32)  # (C_in, C_out, kH, kW)
    new_inits = [
        numpy_helper.from_array(w_iohw, f"{prefix}/ConvTranspose/W"),
        numpy_helper.from_array(b.astype(np.float32).reshape(c_out), f"{prefix}/ConvTranspose/B"),
    ]
    new_nodes = [
        helper.make_node("Transpose", [x_name], [f"{prefix}/nchw_in"],
                         name=f"{prefix}/to_nchw", perm=[0, 3, 1, 2]),
        helper.make_node("ConvTranspose",
                         [f"{prefix}/nchw_in", new_inits[0].name, new_inits[1].name],
                         [f"{prefix}/nchw_out"], name=f"{prefix}/ConvTranspose",
                         kernel_shape=[kh, kw], strides=[sh, sw], pads=[0, 0, 0, 0],
                         dilations=[1, 1], group=1),
        helper.make_node("Transpose", [f"{prefix}/nchw_out"], [y_name],
                         name=f"{prefix}/to_nhwc", perm=[0, 2, 3, 1]),
    ]
    del g.node[i]
    for k, n in enumerate(new_nodes):
        g.node.insert(i + k, n)
    g.initializer.extend(new_inits)

    # Drop initializers nothing uses any more (the old OHWI weights and bias).
    used = {name for n in g.node for name in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    # Stale value_info for the rewritten tensor would only confuse shape inference.
    for vi in list(g.value_info):
        if vi.name == y_name:
            g.value_info.remove(vi)
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)


def simplify(model):
    """Remove no-op Reshapes and pairs of Transposes that undo each other.

    tf2onnx leaves a varying number of no-op Reshapes (around the
    squeeze-and-excitation blocks of the segmentation model) from run to run,
    and the custom-operator rewrite starts with a Transpose that cancels the one
    before it. Constants with identical contents, which tf2onnx sometimes shares
    and sometimes duplicates, are merged and stored uniformly as raw data.
    Unused opset imports (tf2onnx always adds ai.onnx.ml) are dropped.
    """
    import onnx
    from onnx import numpy_helper

    g = model.graph
    same: dict[tuple, str] = {}
    init_alias: dict[str, str] = {}
    unique = []
    for t in g.initializer:
        arr = numpy_helper.to_array(t)
        k = (arr.dtype.str, arr.shape, arr.tobytes())
        if k in same:
            init_alias[t.name] = same[k]
            continue
        same[k] = t.name
        unique.append(numpy_helper.from_array(arr, t.name))
    del g.initializer[:]
    g.initializer.extend(unique)
    for n in g.node:
        n.input[:] = [init_alias.get(x, x) for x in n.input]

    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    g = model.graph

    def static_shape(vi):
        dims = vi.type.tensor_type.shape.dim
        if not vi.type.tensor_type.HasField("shape") or any(not d.HasField("dim_value") for d in dims):
            return None
        return [d.dim_value for d in dims]

    shapes = {vi.name: static_shape(vi) for vi in list(g.value_info) + list(g.input) + list(g.output)}
    outputs = {v.name for v in g.output}
    producer = {y: n for n in g.node for y in n.output}
    perm_of = lambda n: list(next(a.ints for a in n.attribute if a.name == "perm"))
    alias: dict[str, str] = {}
    keep = []
    for n in g.node:
        n.input[:] = [alias.get(x, x) for x in n.input]
        if n.output[0] not in outputs:
            if (n.op_type == "Reshape" and shapes.get(n.input[0]) is not None
                    and shapes.get(n.input[0]) == shapes.get(n.output[0])):
                alias[n.output[0]] = n.input[0]
                continue
            prev = producer.get(n.input[0])
            if n.op_type == "Transpose" and prev is not None and prev.op_type == "Transpose":
                p1, p2 = perm_of(prev), perm_of(n)
                if [p1[i] for i in p2] == list(range(len(p1))):
                    alias[n.output[0]] = prev.input[0]
                    continue
        keep.append(n)
    # Drop nodes whose results are no longer used (walking backwards).
    needed = set(outputs)
    live_nodes = []
    for n in reversed(keep):
        if any(y in needed for y in n.output):
            live_nodes.append(n)
            needed.update(n.input)
    del g.node[:]
    g.node.extend(reversed(live_nodes))
    used = {x for n in g.node for x in n.input}
    live = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(live)
    del g.value_info[:]
    domains = {n.domain for n in g.node} | {""}
    ops = [o for o in model.opset_import if o.domain in domains or (o.domain == "ai.onnx" and "" in domains)]
    del model.opset_import[:]
    model.opset_import.extend(ops)
    return model


def canonicalize(model):
    """Put nodes in a canonical order and name every internal tensor by position.

    tf2onnx's optimiser visits nodes in an order that varies from run to run, so
    the same conversion can list nodes differently and number the tensors it
    creates (`Transpose__307:0`, `const_fold_opt__463`) differently. Here the
    nodes are re-sorted topologically, ties broken by what the node computes
    (operator, attributes, canonical inputs, constant contents), and every
    tensor except the graph's inputs and outputs is renamed `<OpType>_<index>`,
    so the same model always serialises to the same bytes.
    """
    import onnx

    g = model.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
           for n in g.node for a in n.attribute):
        raise RuntimeError("subgraphs are not expected in these models")
    io = {v.name for v in g.input} | {v.name for v in g.output}
    inits = {t.name: t for t in g.initializer}
    init_key = {name: hashlib.sha256(t.SerializeToString(deterministic=True)
                                     .replace(name.encode(), b"")).hexdigest()
                for name, t in inits.items()}
    producer = {y: n for n in g.node for y in n.output if y}
    nodes = list(g.node)
    ren: dict[str, str] = {v.name: v.name for v in g.input}
    done: list = []
    pending = set(range(len(nodes)))

    def ready(n) -> bool:
        return all(x == "" or x in inits or x in ren for x in n.input)

    def key(n):
        ins = tuple("" if x == "" else ("#" + init_key[x]) if x in inits else ren[x] for x in n.input)
        attrs = b"".join(a.SerializeToString(deterministic=True)
                         for a in sorted(n.attribute, key=lambda a: a.name))
        return (n.op_type, n.domain, ins, attrs)

    while pending:
        cands = [i for i in pending if ready(nodes[i])]
        if not cands:
            raise RuntimeError("graph is not a DAG")
        i = min(cands, key=lambda i: key(nodes[i]))
        pending.remove(i)
        n = nodes[i]
        idx = len(done)
        for j, y in enumerate(n.output):
            if y:
                ren[y] = y if y in io else f"{n.op_type}_{idx}" + (f":{j}" if j else "")
        done.append(n)
    assert set(producer) <= set(ren)

    first_use: dict[str, int] = {}
    for idx, n in enumerate(done):
        for k, x in enumerate(n.input):
            if x in inits and x not in ren:
                ren[x] = f"{n.op_type}_{idx}/input{k}"
            if x in inits:
                first_use.setdefault(x, idx)
        n.input[:] = [ren.get(x, x) if x else x for x in n.input]
        n.output[:] = [ren.get(y, y) if y else y for y in n.output]
        n.name = f"{n.op_type}_{idx}"
    used = sorted((t for t in g.initializer if t.name in first_use),
                  key=lambda t: ren[t.name])
    used.sort(key=lambda t: first_use[t.name])
    for t in used:
        t.name = ren[t.name]
    del g.node[:]
    g.node.extend(done)
    del g.initializer[:]
    g.initializer.extend(used)
    del g.value_info[:]
    g.name = "main"
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)


def finish(model, name: str, wheel_path_in: str):
    """Checker, provenance metadata, deterministic serialisation."""
    import onnx

    if any(n.op_type.startswith("TFL_") or n.domain not in ("", "ai.onnx") for n in model.graph.node):
        raise RuntimeError(f"{name}: non-standard operators remain")
    model.doc_string = (
        f"Converted from MediaPipe {MEDIAPIPE_VERSION} {wheel_path_in} (Apache-2.0) "
        f"to ONNX opset {OPSET} by photo-ledger tools/models/convert.py"
    )
    del model.metadata_props[:]
    for k, v in (
        ("source", f"mediapipe=={MEDIAPIPE_VERSION}:{wheel_path_in}"),
        ("license", "Apache-2.0 (see LICENSE-mediapipe.txt)"),
        ("modified", "converted from TFLite to ONNX; float16 weights stored as float32"
         + ("; custom Convolution2DTransposeBias replaced by standard ConvTranspose + Transpose"
            if name == "selfie_segmentation" else "")),
    ):
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(deterministic=True)


# --------------------------------------------------------------------------
# Step 5: validation
# --------------------------------------------------------------------------

def blazeface_anchors():
    import numpy as np

    strides = [8, 16, 16, 16]
    centres = []
    layer = 0
    while layer < len(strides):
        last, per_cell = layer, 0
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += 2  # aspect ratio 1.0 + one interpolated scale
            last += 1
        grid = -(-128 // strides[layer])
        for y in range(grid):
            for x in range(grid):
                centres.extend([((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell)
        layer = last
    a = np.array(centres, dtype=np.float32)
    assert a.shape == (896, 2)
    return a


def decode_blazeface(regressors, logits, min_score=0.5, iou_thresh=0.3):
    """Boxes/keypoints normalised to the 128x128 input, with weighted NMS."""
    import numpy as np

    anchors = blazeface_anchors()
    r = regressors.reshape(896, 16) / 128.0
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(896), -100, 100)))
    cx, cy = r[:, 0] + anchors[:, 0], r[:, 1] + anchors[:, 1]
    w, h = r[:, 2], r[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = r[:, 4:].reshape(896, 6, 2) + anchors[:, None, :]
    order = [i for i in np.argsort(-scores) if scores[i] >= min_score]
    dets = []
    while order:
        top = order[0]
        bx = boxes[top]
        ix0 = np.maximum(bx[0], boxes[order, 0]); iy0 = np.maximum(bx[1], boxes[order, 1])
        ix1 = np.minimum(bx[2], boxes[order, 2]); iy1 = np.minimum(bx[3], boxes[order, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        iou = inter / (area(bx) + area(boxes[order]) - inter)
        group = [o for o, v in zip(order, iou) if v > iou_thresh]
        wts = scores[group][:, None]
        dets.append({
            "score": float(scores[top]),
            "box": (boxes[group] * wts).sum(0) / wts.sum(),
            "keypoints": (kps[group] * wts[:, :, None]).sum(0) / wts.sum(),
        })
        order = [o for o in order if o not in group]
    return dets


def validation_images(paths: list[Path]):
    """Real photos plus a mirrored and a tighter, off-centre crop of each."""
    from PIL import Image, ImageOps

    out = []
    for p in paths:
        img = Image.open(p).convert("RGB")
        s = min(img.size)
        img = img.crop(((img.width - s) // 2, (img.height - s) // 2,
                        (img.width + s) // 2, (img.height + s) // 2))
        out.append((p.name, img))
        out.append((p.name + " mirrored", ImageOps.mirror(img)))
        c = int(s * 0.7)
        out.append((p.name + " crop", img.crop((int(s * 0.12), 0, int(s * 0.12) + c, c))))
    return out


def mediapipe_reference(images, work: Path) -> list[dict]:
    """Run MediaPipe's own pipelines in a separate process (keeps its runtime
    apart from TensorFlow's in memory)."""
    import numpy as np

    ref_dir = work / "mediapipe-ref"
    ref_dir.mkdir(exist_ok=True)
    for k, (_, img) in enumerate(images):
        np.save(ref_dir / f"{k}.full.npy", np.asarray(img))
        np.save(ref_dir / f"{k}.seg.npy", np.asarray(img.resize((256, 256), resample=2)))
        np.save(ref_dir / f"{k}.det.npy", np.asarray(img.resize((128, 128), resample=2)))
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_mediapipe-worker",
                    str(ref_dir), str(len(images))], check=True)
    return [json.loads((ref_dir / f"{k}.json").read_text()) | {"mask": np.load(ref_dir / f"{k}.mask.npy")}
            for k in range(len(images))]


def mediapipe_worker(ref_dir: Path, count: int) -> None:
    os.environ.setdefault("GLOG_minloglevel", "2")
    import mediapipe as mp
    import numpy as np

    sols = mp.solutions
    with sols.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg, \
         sols.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5) as det, \
         sols.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                 refine_landmarks=False, min_detection_confidence=0.5) as mesh:
        for k in range(count):
            full = np.ascontiguousarray(np.load(ref_dir / f"{k}.full.npy"))
            small = np.ascontiguousarray(np.load(ref_dir / f"{k}.seg.npy"))
            # Already 128x128, so MediaPipe's own resize is the identity and its
            # detections can be compared exactly with ours.
            det_in = np.ascontiguousarray(np.load(ref_dir / f"{k}.det.npy"))
            mask = seg.process(small).segmentation_mask.astype(np.float32)
            np.save(ref_dir / f"{k}.mask.npy", mask)
            res: dict = {"detection": None, "mesh": None}
            d = det.process(det_in).detections
            if d:
                loc = d[0].location_data
                bb = loc.relative_bounding_box
                res["detection"] = {
                    "score": float(d[0].score[0]),
                    "box": [bb.xmin, bb.ymin, bb.xmin + bb.width, bb.ymin + bb.height],
                    "keypoints": [[kp.x, kp.y] for kp in loc.relative_keypoints],
                }
            m = mesh.process(full).multi_face_landmarks
            if m:
                res["mesh"] = [[p.x, p.y] for p in m[0].landmark]
            (ref_dir / f"{k}.json").write_text(json.dumps(res))


def validate(onnx_bytes: dict[str, bytes], tflites: dict[str, Path], images, work: Path) -> dict:
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf
    from PIL import Image

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sessions = {n: ort.InferenceSession(b, opts, providers=["CPUExecutionProvider"])
                for n, b in onnx_bytes.items()}

    def run_tflite(name, x):
        it = tf.lite.Interpreter(model_path=str(tflites[name]), num_threads=1)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}

    def run_onnx(name, x):
        s = sessions[name]
        return dict(zip([o.name for o in s.get_outputs()],
                        s.run(None, {s.get_inputs()[0].name: x})))

    sig = lambda v: 1.0 / (1.0 + np.exp(-np.clip(v, -100, 100)))
    refs = mediapipe_reference(images, work)
    stats = {"detection_score_abs": 0.0, "detection_regressor_abs": 0.0,
             "landmark_abs": 0.0, "face_presence_abs": 0.0,
             "mask_agreement": [], "mask_mean_abs": [], "mask_max_abs": 0.0,
             "pipeline_box_px": [], "pipeline_keypoint_px": [], "pipeline_mesh_px": [],
             "top_anchor_same": True}
    log("\nvalidation (onnxruntime vs the original model):")
    for (label, img), ref in zip(images, refs):
        size = img.width
        # Selfie segmentation: same 256x256 image into MediaPipe's runtime and ONNX.
        small = np.asarray(img.resize((256, 256), resample=2), np.float32) / 255.0
        mask = run_onnx("selfie_segmentation", small[None])["activation_10"][0, :, :, 0]
        ref_mask = ref["mask"]
        agree = float(((mask > 0.5) == (ref_mask > 0.5)).mean())
        stats["mask_agreement"].append(agree)
        stats["mask_mean_abs"].append(float(np.abs(mask - ref_mask).mean()))
        stats["mask_max_abs"] = max(stats["mask_max_abs"], float(np.abs(mask - ref_mask).max()))
        log(f"  [{label}] selfie: {agree * 100:.3f}% pixels agree at 0.5, "
            f"mean|diff| {np.abs(mask - ref_mask).mean():.2e}, max|diff| {np.abs(mask - ref_mask).max():.2e}, "
            f"person {float((mask > 0.5).mean()) * 100:.1f}%, range [{mask.min():.3f}, {mask.max():.3f}]")

        # Face detection: same tensor into TFLite and ONNX.
        x = (np.asarray(img.resize((128, 128), resample=2), np.float32) / 127.5 - 1.0)[None]
        t, o = run_tflite("face_detection_short_range", x), run_onnx("face_detection_short_range", x)
        d_score = float(np.abs(sig(t["classificators"]) - sig(o["classificators"])).max())
        d_reg = float(np.abs(t["regressors"] - o["regressors"]).max())
        stats["detection_score_abs"] = max(stats["detection_score_abs"], d_score)
        stats["detection_regressor_abs"] = max(stats["detection_regressor_abs"], d_reg)
        stats["top_anchor_same"] &= int(t["classificators"].argmax()) == int(o["classificators"].argmax())
        # Anchor decoding + weighted NMS, checked against MediaPipe's full
        # detection pipeline run on the same 128x128 pixels.
        dets = decode_blazeface(o["regressors"], o["classificators"])
        line = f"  [{label}] detect: max|score diff| {d_score:.2e}, max|regressor diff| {d_reg:.2e} px"
        if not dets:
            log(line + ", no face found")
            continue
        det = dets[0]
        line += f", faces {len(dets)}, best score {det['score']:.4f}"
        if ref["detection"]:
            bpx = float(np.abs(det["box"] - np.array(ref["detection"]["box"])).max() * 128)
            kpx = float(np.abs(det["keypoints"] - np.array(ref["detection"]["keypoints"])).max() * 128)
            stats["pipeline_box_px"].append(bpx)
            stats["pipeline_keypoint_px"].append(kpx)
            line += f"; decoded vs MediaPipe pipeline: box {bpx:.1e} px, keypoints {kpx:.1e} px"
        log(line)

        # Face mesh: axis-aligned square crop 1.5x the detected box.
        bx = det["box"] * size
        cxy = (bx[:2] + bx[2:]) / 2
        side = max(bx[2] - bx[0], bx[3] - bx[1]) * 1.5
        x0, y0 = cxy - side / 2
        crop = img.crop((int(round(x0)), int(round(y0)),
                         int(round(x0)) + int(round(side)), int(round(y0)) + int(round(side))))
        side = crop.width
        x = (np.asarray(crop.resize((192, 192), resample=2), np.float32) / 255.0)[None]
        t, o = run_tflite("face_landmark", x), run_onnx("face_landmark", x)
        d_lm = float(np.abs(t["conv2d_21"] - o["conv2d_21"]).max())
        d_fp = float(np.abs(sig(t["conv2d_31"]) - sig(o["conv2d_31"])).max())
        stats["landmark_abs"] = max(stats["landmark_abs"], d_lm)
        stats["face_presence_abs"] = max(stats["face_presence_abs"], d_fp)
        lm = o["conv2d_21"].reshape(468, 3)
        line = (f"  [{label}] mesh: max|landmark diff| {d_lm:.2e} px, |presence diff| {d_fp:.2e}, "
                f"presence {float(sig(o['conv2d_31']).ravel()[0]):.4f}")
        if ref["mesh"]:
            img_xy = np.array([int(round(x0)), int(round(y0))]) + lm[:, :2] / 192.0 * side
            dist = np.linalg.norm(img_xy - np.array(ref["mesh"]) * size, axis=1)
            stats["pipeline_mesh_px"].append(float(dist.mean()))
            line += f"; vs MediaPipe pipeline (rotated crop): mean {dist.mean():.2f} px"
        log(line)

    # Latency, one thread, median of 50 runs after warm-up.
    stats["latency_ms"] = {}
    for name, s in sessions.items():
        inp = s.get_inputs()[0]
        x = np.random.default_rng(0).random([int(d) for d in inp.shape], dtype=np.float32)
        for _ in range(5):
            s.run(None, {inp.name: x})
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            s.run(None, {inp.name: x})
            times.append((time.perf_counter() - t0) * 1e3)
        stats["latency_ms"][name] = float(np.median(times))

    log("\nsummary:")
    log(f"  face detection: max|score diff| {stats['detection_score_abs']:.2e}, "
        f"max|regressor diff| {stats['detection_regressor_abs']:.2e} px, "
        f"same top anchor: {stats['top_anchor_same']}")
    log(f"  face mesh: max|landmark diff| {stats['landmark_abs']:.2e} px, "
        f"max|presence diff| {stats['face_presence_abs']:.2e}")
    log(f"  selfie segmentation: {min(stats['mask_agreement']) * 100:.3f}% (worst) / "
        f"{np.mean(stats['mask_agreement']) * 100:.3f}% (mean) of pixels agree at 0.5; "
        f"max|diff| {stats['mask_max_abs']:.2e}")
    if stats["pipeline_box_px"]:
        log(f"  decoded detections vs MediaPipe's pipeline: box <= {max(stats['pipeline_box_px']):.1e} px, "
            f"keypoints <= {max(stats['pipeline_keypoint_px']):.1e} px (128-px input)")
    if stats["pipeline_mesh_px"]:
        log(f"  mesh vs MediaPipe's pipeline: mean landmark distance <= {max(stats['pipeline_mesh_px']):.2f} px")
    log("  onnxruntime latency, 1 thread, median: "
        + ", ".join(f"{n} {v:.2f} ms" for n, v in stats["latency_ms"].items()))

    failures = []
    for key in ("detection_score_abs", "detection_regressor_abs", "landmark_abs", "face_presence_abs"):
        if stats[key] > TOLERANCE[key]:
            failures.append(f"{key} {stats[key]:.3g} > {TOLERANCE[key]}")
    if min(stats["mask_agreement"]) < TOLERANCE["mask_agreement_min"]:
        failures.append(f"mask agreement {min(stats['mask_agreement']):.4f} < {TOLERANCE['mask_agreement_min']}")
    if not stats["pipeline_box_px"] or max(stats["pipeline_box_px"] + stats["pipeline_keypoint_px"]) > 0.05:
        failures.append("decoded detections differ from MediaPipe's pipeline (or no face found)")
    if not stats["top_anchor_same"]:
        failures.append("face detection top anchor differs")
    if failures:
        sys.exit("validation failed: " + "; ".join(failures))
    return {n: s for n, s in sessions.items()}


# --------------------------------------------------------------------------
# Step 6: outputs
# --------------------------------------------------------------------------

def describe(name: str, session, data: bytes) -> dict:
    import onnx

    desc = DESCRIPTIONS[name]
    member, tfl_sha = SOURCES[name]
    inp = session.get_inputs()[0]
    model = onnx.load_from_string(data)
    entry = {
        "file": f"{name}.onnx",
        "sha256": sha256_bytes(data),
        "bytes": len(data),
        "purpose": desc["purpose"],
        "source": {
            "package": "mediapipe",
            "version": MEDIAPIPE_VERSION,
            "wheel": MEDIAPIPE_WHEEL,
            "wheel_sha256": MEDIAPIPE_WHEEL_SHA256,
            "path": member,
            "sha256": tfl_sha,
            "license": "Apache-2.0",
        },
        "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": [{
            "name": inp.name,
            "shape": list(inp.shape),
            "dtype": "float32",
            **desc["input"],
        }],
        "outputs": [{
            "name": o.name,
            "shape": list(o.shape),
            "dtype": "float32",
            "meaning": desc["outputs"][o.name],
        } for o in session.get_outputs()],
    }
    if "anchors" in desc:
        entry["anchors"] = desc["anchors"]
    return entry


NOTICE = """\
NOTICE for the models in this directory

face_detection_short_range.onnx, face_landmark.onnx and selfie_segmentation.onnx
are derived from models distributed with MediaPipe {version}
(Copyright The MediaPipe Authors), licensed under the Apache License,
Version 2.0, whose text follows below. They were taken from the PyPI wheel
{wheel}
(sha256 {wheel_sha}):

{mapping}

Changes made: each TensorFlow Lite model was converted to ONNX (opset {opset})
with tf2onnx {tf2onnx}; float16 weights are stored as float32. In
selfie_segmentation.onnx the MediaPipe custom operator
Convolution2DTransposeBias (its final 2x upsampling layer) was replaced by the
equivalent standard ONNX operators Transpose -> ConvTranspose -> Transpose
(NHWC -> NCHW -> NHWC) with the same weights, transposed from OHWI to IOHW,
and the same bias. The graphs were then tidied without changing what they
compute: no-op Reshapes and Transposes that undo each other removed, identical
constants merged, internal tensors renamed. No weights were retrained or
altered. The conversion is reproduced by tools/models/convert.py in this
repository.

The licence below is copied unchanged from {license_path} in that wheel.

===========================================================================

"""


def write_outputs(out_dir: Path, onnx_bytes: dict[str, bytes], sessions, license_text: bytes) -> None:
    import onnx
    import onnxruntime
    import tensorflow
    import tf2onnx

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, data in onnx_bytes.items():
        (out_dir / f"{name}.onnx").write_bytes(data)
        manifest.append(f"{sha256_bytes(data)}  {name}.onnx\n")
    (out_dir / "MANIFEST.sha256").write_text("".join(manifest))
    doc = {
        "format_version": 1,
        "converted_with": {
            "script": "tools/models/convert.py",
            "tf2onnx": tf2onnx.__version__,
            "tensorflow-cpu": tensorflow.__version__,
            "onnx": onnx.__version__,
            "validated_with_onnxruntime": onnxruntime.__version__,
            "validated_against": (
                f"TFLite interpreter of tensorflow-cpu {tensorflow.__version__} (face models); "
                f"MediaPipe {MEDIAPIPE_VERSION} runtime (selfie segmentation)"
            ),
            "opset": OPSET,
        },
        "license": "Apache-2.0, see LICENSE-mediapipe.txt",
        "models": {n: describe(n, sessions[n], d) for n, d in onnx_bytes.items()},
    }
    (out_dir / "models.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    mapping = "\n".join(f"  {member}\n    -> {name}.onnx" for name, (member, _) in SOURCES.items())
    notice = NOTICE.format(version=MEDIAPIPE_VERSION, wheel=MEDIAPIPE_WHEEL,
                           wheel_sha=MEDIAPIPE_WHEEL_SHA256, mapping=mapping, opset=OPSET,
                           tf2onnx=tf2onnx.__version__, license_path=MEDIAPIPE_LICENSE_PATH)
    (out_dir / "LICENSE-mediapipe.txt").write_bytes(notice.encode() + license_text)
    log(f"\nwrote {out_dir}:")
    for p in sorted(out_dir.iterdir()):
        log(f"  {p.stat().st_size:>9}  {sha256_file(p)}  {p.name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", help="use this already downloaded mediapipe 0.10.14 wheel")
    ap.add_argument("--out-dir", default=str(REPO / "models"), help="where to write the models (default: models/)")
    ap.add_argument("--image", action="append", type=Path,
                    help="validation photo (repeatable; default: fixtures/astronaut.png)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"virtualenv to use (default: {DEFAULT_VENV})")
    ap.add_argument("--no-venv", action="store_true", help="run in the current interpreter as is")
    ap.add_argument("--check", action="store_true",
                    help="convert and validate, then compare with MANIFEST.sha256 in --out-dir instead of writing")
    ap.add_argument("--keep-work", action="store_true", help="keep the temporary work directory")
    ap.add_argument("--_mediapipe-worker", nargs=2, metavar=("DIR", "COUNT"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._mediapipe_worker:
        mediapipe_worker(Path(args._mediapipe_worker[0]), int(args._mediapipe_worker[1]))
        return
    if not args.no_venv:
        ensure_venv(args.venv)
    ensure_hash_seed()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings
    warnings.filterwarnings("ignore")

    started = time.monotonic()
    images_arg = args.image or [REPO / "fixtures" / "astronaut.png"]
    for p in images_arg:
        if not p.is_file():
            sys.exit(f"validation image not found: {p} (tools/fixtures/fetch_astronaut.sh fetches the default)")
    work = Path(tempfile.mkdtemp(prefix="photo-ledger-models-"))
    try:
        wheel = obtain_wheel(work, args.wheel)
        tflites, license_text = extract(wheel, work)
        onnx_bytes: dict[str, bytes] = {}
        for name, path in tflites.items():
            t0 = time.monotonic()
            model = convert(path)
            if name == "selfie_segmentation":
                log("  (tf2onnx reports Convolution2DTransposeBias as unsupported; it is rewritten next)")
                spec = read_transpose_conv_bias(path)
                log(f"  {name}: Convolution2DTransposeBias {spec['input']} -> {spec['output']}, "
                    f"weights OHWI {list(spec['weights_ohwi'].shape)}, bias {list(spec['bias'].shape)}, "
                    f"strides {spec['strides']}, padding {spec['padding']}")
                model = rewrite_transpose_conv_bias(model, spec)
            model = canonicalize(simplify(model))
            onnx_bytes[name] = finish(model, name, SOURCES[name][0])
            log(f"converted {name}: {len(onnx_bytes[name])} bytes in {time.monotonic() - t0:.1f} s")
        from PIL import Image  # noqa: F401  (fail early if Pillow is missing)
        sessions = validate(onnx_bytes, tflites, validation_images(images_arg), work)
        out_dir = Path(args.out_dir)
        if args.check:
            want = (out_dir / "MANIFEST.sha256").read_text().split("\n")
            got = [f"{sha256_bytes(d)}  {n}.onnx" for n, d in onnx_bytes.items()]
            missing = [g for g in got if g not in want]
            if missing:
                sys.exit("rebuilt models differ from MANIFEST.sha256:\n  " + "\n  ".join(missing))
            log(f"\nrebuilt models match {out_dir / 'MANIFEST.sha256'}")
        else:
            write_outputs(out_dir, onnx_bytes, sessions, license_text)
        log(f"done in {time.monotonic() - started:.1f} s")
    finally:
        if args.keep_work:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
