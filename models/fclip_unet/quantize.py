"""int8 static quantization of an exported FCLIP-UNet ONNX (QDQ format) for onnxruntime's CPU EP.

    /usr/bin/python3 -m models.fclip_unet.quantize --onnx /tmp/q/lite2.onnx --checkpoint /tmp/q/run/last.pt \\
        --calib ../shared/data/clean-images --out /tmp/q/lite2-int8.onnx

Every Conv gets QuantizeLinear/DequantizeLinear pairs: int8 weights, symmetric per output
channel; int32 bias at the input scale times the weight scale; uint8 activations (its input,
and its output, after the ReLU where one follows) with per-tensor scales calibrated on rainy
crops (clean images with the kit's synthetic rain). onnxruntime fuses each DQ -> Conv -> Q group
into a QLinearConv (u8s8, VNNI where the CPU has it) and drops the ReLU whose Q starts at 0;
everything between convolutions (adds, scales, pools, resizes) stays float.

Activation ranges come from the ONNX itself: every tensor to quantize becomes an extra graph
output and onnxruntime-node (the runtime the pipeline uses; there is no Python onnxruntime
here) runs the calibration crops, so the ranges are those of the exact graph being quantized,
whatever exported it. `--checkpoint` (optional) checks first that the ONNX computes what the
checkpoint does. The card embedded under `derain.card` is kept, with `precision` and a
`quantization` entry; `--eval` crops (other images) give the int8 vs fp32 PSNR for the card.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CARD_KEY = "derain.card"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs ONNX models through onnxruntime-node. Job (JSON file, argv[1]): {model, opt, inputs:
# [{file, shape}], outputs: [names], stats: [percentiles] | null, save: dir | null, optimized,
# time}. Prints one JSON object: per output name, per input [min, max, p_lo, p_hi] (stats), and
# for `time` the median ms of that many runs of the first input.
NODE_RUNNER = r"""
import { createRequire } from 'node:module';
import fs from 'node:fs';
const ort = createRequire(process.cwd() + '/')('onnxruntime-node');
const job = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
const opt = { graphOptimizationLevel: job.opt, intraOpNumThreads: job.threads || 1 };
if (job.optimized) opt.optimizedModelFilePath = job.optimized;
const s = await ort.InferenceSession.create(job.model, opt);
const result = { stats: {}, ms: null };
const feedOf = (inp) => {
  const b = fs.readFileSync(inp.file);
  return { [s.inputNames[0]]: new ort.Tensor('float32', new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4), inp.shape) };
};
const outputs = job.outputs.length ? job.outputs : s.outputNames;
for (const [i, inp] of job.inputs.entries()) {
  const out = await s.run(feedOf(inp), outputs);
  for (const name of outputs) {
    const d = out[name].data;
    if (job.save) fs.writeFileSync(`${job.save}/${i}_${outputs.indexOf(name)}.bin`, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    if (!job.stats) continue;
    let lo = Infinity, hi = -Infinity;
    for (let k = 0; k < d.length; k++) { const v = d[k]; if (v < lo) lo = v; if (v > hi) hi = v; }
    const step = Math.max(1, Math.floor(d.length / 65536));
    const sub = new Float32Array(Math.ceil(d.length / step));
    for (let k = 0, j = 0; k < d.length; k += step) sub[j++] = d[k];
    sub.sort();
    const at = (p) => sub[Math.min(sub.length - 1, Math.max(0, Math.round(p / 100 * (sub.length - 1))))];
    (result.stats[name] ??= []).push([lo, hi, at(job.stats[0]), at(job.stats[1])]);
  }
}
if (job.time) {
  const feed = feedOf(job.inputs[0]);
  for (let i = 0; i < 2; i++) await s.run(feed);
  const t = [];
  for (let i = 0; i < job.time; i++) { const t0 = performance.now(); await s.run(feed); t.push(performance.now() - t0); }
  t.sort((a, b) => a - b);
  result.ms = t[(t.length - 1) >> 1];
}
process.stdout.write(JSON.stringify(result));
"""


def run_node(job: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "job.json")
        with open(path, "w") as f:
            json.dump(job, f)
        try:
            r = subprocess.run(["node", "--input-type=module", "-e", NODE_RUNNER, path], cwd=ROOT,
                               capture_output=True, text=True)
        except FileNotFoundError:
            raise SystemExit("error: node is not on PATH (calibration runs through onnxruntime-node)")
        if r.returncode != 0:
            raise SystemExit(f"error: onnxruntime-node failed: {r.stderr.strip()[-2000:]}")
        return json.loads(r.stdout)


# ---------------------------------------------------------------- graph preparation
def card_of(model: onnx.ModelProto) -> Optional[dict]:
    for p in model.metadata_props:
        if p.key == CARD_KEY:
            return json.loads(p.value)
    return None


def to_fp32_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Constant nodes become initializers, and float16-stored weights (fp16.compress_weights:
    fp16 initializer -> Cast to float32) plain float32 initializers. A graph that computes in
    float16 (export --fp16) is refused: quantize the float32 export."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    keep = []
    for node in g.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            t = numpy_helper.to_array(node.attribute[0].t)
            g.initializer.append(numpy_helper.from_array(t, node.output[0]))
            inits[node.output[0]] = g.initializer[-1]
            continue
        if node.op_type == "Cast" and node.input[0] in inits:
            to = helper.get_attribute_value(node.attribute[0])
            if to == TensorProto.FLOAT:
                arr = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
                g.initializer.append(numpy_helper.from_array(arr, node.output[0]))
                inits[node.output[0]] = g.initializer[-1]
                continue
        if node.op_type == "Cast" and helper.get_attribute_value(node.attribute[0]) == TensorProto.FLOAT16:
            raise SystemExit("error: this ONNX computes in float16 (export --fp16); quantize a float32 export "
                             "(export.py without --fp16; --fp16-weights is fine)")
        keep.append(node)
    del g.node[:]
    g.node.extend(keep)
    # drop initializers nothing reads any more (the fp16 copies)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    live = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(live)
    return model


def consumers(g: onnx.GraphProto) -> Dict[str, List[onnx.NodeProto]]:
    c: Dict[str, List[onnx.NodeProto]] = defaultdict(list)
    for n in g.node:
        for i in n.input:
            if i:
                c[i].append(n)
    return c


def fold_scales(model: onnx.ModelProto) -> int:
    """Conv -> Mul by a per-channel constant (a layer scale) becomes one Conv with scaled weights
    and bias, so the quantized conv's output is what the next op reads. Returns how many."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    cons = consumers(g)
    outputs = {o.name for o in g.output}
    producer = {o: n for n in g.node for o in n.output}
    folded, drop = 0, set()
    for mul in g.node:
        if mul.op_type != "Mul":
            continue
        a, b = mul.input
        conv_out, k = (a, b) if b in inits else (b, a) if a in inits else (None, None)
        conv = producer.get(conv_out) if conv_out else None
        if conv is None or conv.op_type != "Conv" or conv.input[1] not in inits or conv_out in outputs or len(cons[conv_out]) != 1:
            continue
        w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float32)
        gam = numpy_helper.to_array(inits[k]).astype(np.float32)
        c = w.shape[0]
        if gam.size != 1 and gam.shape not in ((c,), (c, 1, 1), (1, c, 1, 1)):
            continue
        gam = np.broadcast_to(gam.reshape(-1), (w.shape[0],))
        bias = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float32) if len(conv.input) > 2 and conv.input[2] else np.zeros(w.shape[0], np.float32)
        wname, bname = conv.input[1] + "_scaled", (conv.name or conv.output[0]) + "_bias_scaled"
        g.initializer.append(numpy_helper.from_array((w * gam.reshape(-1, 1, 1, 1)).astype(np.float32), wname))
        g.initializer.append(numpy_helper.from_array((bias * gam).astype(np.float32), bname))
        inits[wname], inits[bname] = g.initializer[-2], g.initializer[-1]
        conv.input[:] = [conv.input[0], wname, bname]
        conv.output[0] = mul.output[0]
        drop.add(id(mul))
        folded += 1
    keep = [n for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(keep)
    return folded


# ops whose output is quantized too (with --ops all) when all their activation inputs are:
# onnxruntime runs them as QLinearAdd / QLinearMul / QLinearAveragePool / QLinearConcat, and
# Resize and MaxPool on uint8 when the output keeps the input's scale
EXTRA_OPS = {"Add": False, "Mul": False, "AveragePool": False, "Concat": False, "Resize": True, "MaxPool": True}


def plan(model: onnx.ModelProto, ops: str = "conv", keep_float: Sequence[str] = ()) -> Tuple[List[onnx.NodeProto], List[str], Dict[str, str]]:
    """The Convs to quantize (constant 4-D weights; not those whose node name starts with a
    `keep_float` prefix) and the activation tensors that need a scale: each Conv's input, and
    its output (the ReLU's output where a lone ReLU follows, so onnxruntime can drop the ReLU
    into the quantized range); with ops "all", also the outputs of EXTRA_OPS. Returns the convs,
    the tensors, and for tensors that must share another's scale (Resize), that tensor."""
    g = model.graph
    inits = {i.name for i in g.initializer}
    cons = consumers(g)
    outputs = {o.name for o in g.output}
    convs, tensors, tied = [], [], {}

    def after_relu(out: str) -> str:
        after = cons.get(out, [])
        return after[0].output[0] if len(after) == 1 and after[0].op_type == "Relu" and out not in outputs else out

    for n in g.node:
        if n.op_type != "Conv" or n.input[1] not in inits or n.input[0] in inits:
            continue
        if any(n.name.startswith(p) for p in keep_float if p):
            continue
        convs.append(n)
        for t in (n.input[0], after_relu(n.output[0])):
            if t not in tensors:
                tensors.append(t)
    if ops == "all":
        have = set(tensors)
        for n in g.node:
            if n.op_type not in EXTRA_OPS or any(n.name.startswith(p) for p in keep_float if p):
                continue
            acts = [i for i in (n.input[:1] if n.op_type == "Resize" else n.input) if i and i not in inits]
            if not acts or not all(a in have for a in acts) or (n.op_type == "Mul" and len(acts) < 2):
                continue
            out = after_relu(n.output[0]) if n.op_type != "Resize" else n.output[0]
            if out not in have:
                tensors.append(out)
                have.add(out)
            if EXTRA_OPS[n.op_type]:
                tied[out] = acts[0]
    elif ops != "conv":
        raise ValueError("ops must be conv or all")
    return convs, tensors, tied


# ---------------------------------------------------------------- calibration
def calibration_crops(folder: str, n: int, size: Tuple[int, int], seed: int, skip: int = 0,
                      frames: int = 1) -> np.ndarray:
    """n rainy crops [n,3*frames,h,w] in [0,1] and their clean originals: images of `folder` in a
    seeded order from the `skip`-th on, a random window of each (shrunk to the crop), the kit's
    synthetic rain on it. A temporal model (`frames` > 1) gets the crop as a still camera sees
    it: the same scene under fresh rain in every frame, the current frame first."""
    import torch
    import torch.nn.functional as F

    from .data import add_rain, list_images, load_rgb

    files = list_images(folder)
    if not files:
        raise SystemExit(f"error: no images in {folder}")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(files), generator=gen).tolist()
    h, w = size
    crops = []
    for k in range(n):
        img = load_rgb(files[order[(skip + k) % len(files)]]).float()[None] / 255
        ih, iw = img.shape[-2:]
        s = min(ih / h, iw / w, 2.0)  # a window up to twice the crop, like the pipeline's downscale
        s = max(s * (0.5 + 0.5 * float(torch.rand((), generator=gen))), min(1.0, ih / h, iw / w))
        wh, ww = min(ih, int(h * s)), min(iw, int(w * s))
        y = int(torch.randint(ih - wh + 1, (1,), generator=gen))
        x = int(torch.randint(iw - ww + 1, (1,), generator=gen))
        crops.append(F.interpolate(img[..., y:y + wh, x:x + ww], size=(h, w), mode="area"))
    clean = torch.cat(crops)
    level = torch.rand(n, generator=gen) ** 0.7
    rainy = torch.cat([add_rain(clean, level, gen) for _ in range(frames)], dim=1)
    return rainy.numpy().astype(np.float32), clean.numpy().astype(np.float32)


def write_inputs(tmp: str, batch: np.ndarray, prefix: str = "in") -> List[dict]:
    out = []
    for i, x in enumerate(batch):
        f = os.path.join(tmp, f"{prefix}{i}.bin")
        np.ascontiguousarray(x[None], dtype=np.float32).tofile(f)
        out.append({"file": f, "shape": [1, *x.shape]})
    return out


def activation_ranges(model: onnx.ModelProto, tensors: Sequence[str], inputs: List[dict], tmp: str,
                      percentile: float) -> Dict[str, Tuple[float, float]]:
    """Per tensor [lo, hi]: the min/max over all crops (percentile 100), otherwise the mean over
    crops of each crop's low/high percentile (outliers do not set the step of every value)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for t in tensors:
        if t not in have:
            m.graph.output.append(helper.make_empty_tensor_value_info(t))
    path = os.path.join(tmp, "calib.onnx")
    onnx.save(m, path)
    res = run_node({"model": path, "opt": "disabled", "inputs": inputs, "outputs": list(tensors),
                    "stats": [100 - percentile, percentile], "save": None})["stats"]
    ranges = {}
    for t in tensors:
        s = np.array(res[t], dtype=np.float64)  # [crops, (min, max, plo, phi)]
        ranges[t] = (float(s[:, 0].min()), float(s[:, 1].max())) if percentile >= 100 else (float(s[:, 2].mean()), float(s[:, 3].mean()))
    return ranges


# ---------------------------------------------------------------- QDQ graph
def uint8_params(lo: float, hi: float) -> Tuple[float, int]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255 if hi > lo else 1.0
    zp = int(np.clip(round(-lo / scale), 0, 255))
    return float(scale), zp


def quantize_qdq(model: onnx.ModelProto, ranges: Dict[str, Tuple[float, float]], ops: str = "conv",
                 keep_float: Sequence[str] = ()) -> Tuple[onnx.ModelProto, dict]:
    """QDQ pairs around every planned Conv and tensor (see `plan`), with the activation `ranges`."""
    g = model.graph
    convs, tensors, tied = plan(model, ops, keep_float)
    ranges = dict(ranges)
    for t, src in tied.items():
        ranges[t] = ranges[src]  # Resize keeps its input's scale
    missing = [t for t in tensors if t not in ranges]
    if missing:
        raise ValueError(f"no calibrated range for {missing[:3]}")
    inits = {i.name: i for i in g.initializer}
    act = {t: uint8_params(*ranges[t]) for t in tensors}
    new_inits: List[onnx.TensorProto] = []
    pre: Dict[int, List[onnx.NodeProto]] = defaultdict(list)  # nodes to emit before node i
    post: Dict[str, List[onnx.NodeProto]] = defaultdict(list)  # Q nodes after the producer of a tensor
    dq_count: Dict[str, int] = defaultdict(int)
    clipped_bias = 0

    def const(name: str, arr: np.ndarray) -> str:
        new_inits.append(numpy_helper.from_array(arr, name))
        return name

    # graph outputs that get quantized keep their name on a DequantizeLinear of their own
    outputs = {o.name for o in g.output}
    tail: List[onnx.NodeProto] = []
    for t in tensors:
        s, zp = act[t]
        sname, zname = const(t + "_scale", np.array(s, np.float32)), const(t + "_zp", np.array(zp, np.uint8))
        src = t
        if t in outputs:
            src = t + "_fp"
            for n in g.node:
                n.output[:] = [src if o == t else o for o in n.output]
                n.input[:] = [src if i == t else i for i in n.input]
            tail.append(helper.make_node("DequantizeLinear", [t + "_q", sname, zname], [t], name=t + "_DQout"))
        post[src].append(helper.make_node("QuantizeLinear", [src, sname, zname], [t + "_q"], name=t + "_Q"))
        act[t] = (s, zp, sname, zname, src)

    by_src = {v[4]: t for t, v in act.items()}
    conv_ids = {id(c) for c in convs}
    for i, n in enumerate(g.node):
        x_in = n.input[0] if n.input else ""
        # every consumer of a quantized tensor reads it through its own DequantizeLinear
        for k, inp in enumerate(n.input):
            if inp in by_src:
                t = by_src[inp]
                _, _, sname, zname, _ = act[t]
                name = f"{t}_dq{dq_count[t]}"
                dq_count[t] += 1
                pre[i].append(helper.make_node("DequantizeLinear", [t + "_q", sname, zname], [name], name=name))
                n.input[k] = name
        if id(n) not in conv_ids:
            continue
        x_scale = act[by_src[x_in]][0]
        w = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
        amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
        w_scale = np.where(amax > 0, amax / 127, 1.0).astype(np.float32)
        wq = np.clip(np.round(w / w_scale.reshape(-1, *[1] * (w.ndim - 1))), -127, 127).astype(np.int8)
        base = n.name or n.output[0]
        wname = const(base + "_W_q", wq)
        ws = const(base + "_W_scale", w_scale)
        wz = const(base + "_W_zp", np.zeros(w.shape[0], np.int8))
        pre[i].append(helper.make_node("DequantizeLinear", [wname, ws, wz], [base + "_W_dq"], name=base + "_W_DQ", axis=0))
        n.input[1] = base + "_W_dq"
        if len(n.input) > 2 and n.input[2]:
            b = numpy_helper.to_array(inits[n.input[2]]).astype(np.float64)
            b_scale = (x_scale * w_scale.astype(np.float64)).astype(np.float32)
            bq = np.round(b / b_scale)
            clipped_bias += int((np.abs(bq) > 2 ** 31 - 1).sum())
            bq = np.clip(bq, -(2 ** 31 - 1), 2 ** 31 - 1).astype(np.int32)
            bname = const(base + "_B_q", bq)
            bs = const(base + "_B_scale", b_scale)
            bz = const(base + "_B_zp", np.zeros(w.shape[0], np.int32))
            pre[i].append(helper.make_node("DequantizeLinear", [bname, bs, bz], [base + "_B_dq"], name=base + "_B_DQ", axis=0))
            n.input[2] = base + "_B_dq"

    nodes: List[onnx.NodeProto] = []
    for inp in g.input:
        nodes.extend(post.get(inp.name, []))
    for i, n in enumerate(g.node):
        nodes.extend(pre[i])
        nodes.append(n)
        for o in n.output:
            nodes.extend(post.get(o, []))
    nodes.extend(tail)
    del g.node[:]
    g.node.extend(nodes)
    # the float weights of quantized convolutions are no longer read
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    del g.value_info[:]
    info = {"convs": len(convs), "activations": len(tensors), "clippedBias": clipped_bias}
    return model, info


def set_card(model: onnx.ModelProto, card: dict) -> None:
    for p in list(model.metadata_props):
        if p.key == CARD_KEY:
            model.metadata_props.remove(p)
    e = model.metadata_props.add()
    e.key, e.value = CARD_KEY, json.dumps(card)


# ---------------------------------------------------------------- checks
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(1 / mse)


def run_outputs(path: str, inputs: List[dict], tmp: str, tag: str) -> List[np.ndarray]:
    save = os.path.join(tmp, tag)
    os.makedirs(save, exist_ok=True)
    run_node({"model": path, "opt": "all", "inputs": inputs, "outputs": [], "stats": None, "save": save})
    # (a temporal model's output has the channels of one frame, not those of its input)
    return [np.fromfile(os.path.join(save, f"{i}_0.bin"), np.float32).reshape(1, -1, *inp["shape"][-2:]) for i, inp in enumerate(inputs)]


def fused_ops(path: str, tmp: str, inputs: List[dict], time_runs: int = 0) -> Tuple[Dict[str, int], Optional[float]]:
    """The op counts of the graph onnxruntime actually runs (its optimised model), and the
    median ms of `time_runs` runs of the first input on one thread."""
    opt = os.path.join(tmp, "optimized-" + os.path.basename(path))
    res = run_node({"model": path, "opt": "all", "optimized": opt, "inputs": inputs[:1], "outputs": [],
                    "stats": None, "save": None, "time": time_runs})
    counts: Dict[str, int] = defaultdict(int)
    for n in onnx.load(opt).graph.node:
        counts[n.op_type] += 1
    return dict(sorted(counts.items())), res.get("ms")


def check_checkpoint(ckpt: str, onnx_path: str, x: np.ndarray, tmp: str) -> float:
    """Largest |ONNX - PyTorch| on one crop: the ONNX must be this checkpoint's export."""
    import torch

    from .checkpoint import load_checkpoint

    model, _ = load_checkpoint(ckpt)
    model.eval()
    inputs = write_inputs(tmp, x[:1], "ckpt")
    (y,) = run_outputs(onnx_path, inputs, tmp, "ckpt")
    with torch.no_grad():
        ref = model(torch.from_numpy(x[:1])).numpy()
    return float(np.abs(y - ref).max())


# ---------------------------------------------------------------- CLI
def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m models.fclip_unet.quantize", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", required=True, help="float32 ONNX from export.py (fp16-stored weights are fine)")
    ap.add_argument("--out", required=True, help="int8 QDQ ONNX to write (its card is written beside it)")
    ap.add_argument("--calib", required=True, help="folder of clean images; calibration crops get synthetic rain")
    ap.add_argument("--checkpoint", help="the checkpoint the ONNX was exported from: checked to match first")
    ap.add_argument("--crops", type=int, default=24, help="calibration crops (default 24)")
    ap.add_argument("--crop", default="320x192", help="crop size WxH (default 320x192)")
    ap.add_argument("--percentile", type=float, default=99.99,
                    help="activation range: mean over crops of this percentile and its mirror; 100 = min/max")
    ap.add_argument("--eval", type=int, default=8, help="crops of other images for the int8 vs fp32 PSNR (0: none)")
    ap.add_argument("--ops", choices=("conv", "all"), default="all",
                    help="all (default): also the adds, products, pools and resizes between quantized tensors; conv: convolutions only")
    ap.add_argument("--keep-float", help="comma-separated node-name prefixes left in float (e.g. /stages.3,/head)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    if "rain100h" in os.path.abspath(args.calib).lower():
        raise SystemExit("error: Rain100H is the benchmark; never calibrate on it")
    try:
        cw, ch = (int(v) for v in args.crop.lower().split("x"))
    except ValueError:
        raise SystemExit(f"error: --crop must be WxH (got {args.crop!r})")
    t0 = time.time()
    model = onnx.load(args.onnx)
    card = card_of(model) or {}
    m = int(card.get("sizeMultiple", 1))
    ch, cw = -(-ch // m) * m, -(-cw // m) * m
    frames = int(card.get("frames", 1))
    model = to_fp32_weights(model)
    keep_float = [p for p in (args.keep_float or "").split(",") if p]
    folded = fold_scales(model)
    convs, tensors, tied = plan(model, args.ops, keep_float)
    if not convs:
        raise SystemExit("error: no Conv with constant weights to quantize")

    with tempfile.TemporaryDirectory(prefix="quantize-") as tmp:
        fp32_path = os.path.join(tmp, "fp32.onnx")
        onnx.save(model, fp32_path)
        rainy, _ = calibration_crops(args.calib, args.crops, (ch, cw), args.seed, frames=frames)
        if args.checkpoint:
            err = check_checkpoint(args.checkpoint, fp32_path, rainy, tmp)
            print(f"checkpoint check: max |onnx - pytorch| = {err:.2e}")
            if err > 1e-3:
                raise SystemExit(f"error: {args.onnx} does not compute what {args.checkpoint} does (max diff {err:.3g})")
        inputs = write_inputs(tmp, rainy)
        ranges = activation_ranges(model, [t for t in tensors if t not in tied], inputs, tmp, args.percentile)
        qmodel, info = quantize_qdq(model, ranges, args.ops, keep_float)
        if info["clippedBias"]:
            print(f"warning: {info['clippedBias']} bias values clipped to int32")

        quant = {
            "format": "QDQ",
            "weights": "int8 symmetric per output channel",
            "activations": "uint8 asymmetric per tensor",
            "convs": info["convs"],
            "ops": args.ops,
            "keptFloat": keep_float,
            "layerScalesFolded": folded,
            "calibration": {"folder": os.path.basename(os.path.normpath(args.calib)), "crops": args.crops,
                            "crop": [cw, ch], "rain": "models/fclip_unet/data.py add_rain" + (f", fresh on each of {frames} frames of a still crop" if frames > 1 else ""), "seed": args.seed,
                            "range": "min/max" if args.percentile >= 100 else f"mean per-crop {100 - args.percentile:g}/{args.percentile:g} percentiles"},
            "source": os.path.basename(args.onnx),
        }
        card = dict(card)
        card["onnx"] = os.path.basename(args.out)
        card["precision"] = (f"int8 QDQ: int8 per-channel weights, uint8 activations calibrated on {args.crops} rainy crops "
                             f"(was: {card.get('precision', 'fp32')})")
        card["quantization"] = quant
        set_card(qmodel, card)
        onnx.checker.check_model(qmodel)
        q_path = os.path.join(tmp, "int8.onnx")
        onnx.save(qmodel, q_path)

        ops, _ = fused_ops(q_path, tmp, inputs)
        shown = {k: v for k, v in ops.items() if "Conv" in k or "Quantize" in k or k.startswith("QLinear") or k == "Relu"}
        print(f"onnxruntime runs: {', '.join(f'{k} {v}' for k, v in shown.items())}")
        quant["onnxruntimeOps"] = shown

        if args.eval > 0:
            rainy_e, clean_e = calibration_crops(args.calib, args.eval, (ch, cw), args.seed + 1, skip=args.crops, frames=frames)
            rainy_e_now = rainy_e[:, :3]  # the current frame: what a residual is taken from
            ev = write_inputs(tmp, rainy_e, "eval")
            y32, y8 = run_outputs(fp32_path, ev, tmp, "fp32"), run_outputs(q_path, ev, tmp, "int8")
            residual = card.get("output", "residual") == "residual"
            img = lambda x, y: np.clip(x - y if residual else y, 0, 1)
            d32 = [img(x[None], y) for x, y in zip(rainy_e_now, y32)]
            d8 = [img(x[None], y) for x, y in zip(rainy_e_now, y8)]
            q = {
                "crops": args.eval,
                "psnrInt8VsFp32": round(float(np.mean([psnr(a, b) for a, b in zip(d8, d32)])), 2),
                "psnrFp32VsClean": round(float(np.mean([psnr(a, c[None]) for a, c in zip(d32, clean_e)])), 2),
                "psnrInt8VsClean": round(float(np.mean([psnr(a, c[None]) for a, c in zip(d8, clean_e)])), 2),
                "psnrRainyVsClean": round(float(np.mean([psnr(x[None], c[None]) for x, c in zip(rainy_e_now, clean_e)])), 2),
                "maxAbsResidualDiff": round(float(max(np.abs(a - b).max() for a, b in zip(y8, y32))), 4),
            }
            quant["quality"] = q
            print(f"quality on {args.eval} held-out rainy crops: int8 vs fp32 {q['psnrInt8VsFp32']} dB; "
                  f"vs clean: fp32 {q['psnrFp32VsClean']}, int8 {q['psnrInt8VsClean']}, rainy input {q['psnrRainyVsClean']} dB")
            set_card(qmodel, card)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    onnx.save(qmodel, args.out)
    from .export import card_path

    cpath = card_path(args.out)
    with open(cpath, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB, {info['convs']} convs, {info['activations']} "
          f"activation scales) and {cpath} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
