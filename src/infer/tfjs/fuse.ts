// Recognizes the subgraphs that jax2tf writes out op by op and replaces each with one fused
// node, so onnxruntime runs one kernel instead of a chain of full-size element-wise passes and
// transposes. A pattern is replaced only when it matches exactly (constants included) and its
// inner nodes feed nothing else; otherwise the ops are converted one by one as before.
import type { TfGraphModel, TfNode, TfWeight } from './graph-model.js';

export const FUSED = {
  gelu: '_FusedGeluTanh',
  layerNorm: '_FusedLayerNorm',
  denseOnAxis: '_FusedDenseOnAxis',
  resize: '_FusedSeparableResize',
  leakyRelu: '_FusedLeakyRelu',
} as const;

const base = (ref: string) => ref.replace(/:0$/, '');

class View {
  readonly byName: Map<string, TfNode>;
  readonly uses = new Map<string, number>();

  constructor(
    nodes: TfNode[],
    readonly weights: Map<string, TfWeight>,
    outputs: string[],
  ) {
    this.byName = new Map(nodes.map((n) => [n.name, n]));
    for (const n of nodes) for (const i of n.inputs) this.uses.set(base(i), (this.uses.get(base(i)) ?? 0) + 1);
    for (const o of outputs) this.uses.set(base(o), (this.uses.get(base(o)) ?? 0) + 1);
  }

  /** The producer of `ref` if it is `op` and feeds only its one consumer. */
  inner(ref: string, op: string): TfNode | undefined {
    const n = this.byName.get(base(ref));
    return n && n.op === op && this.uses.get(n.name) === 1 ? n : undefined;
  }

  weight(ref: string): TfWeight | undefined {
    const n = this.byName.get(base(ref));
    return n?.op === 'Const' ? this.weights.get(n.name) : undefined;
  }

  scalar(ref: string): number | undefined {
    const w = this.weight(ref);
    return w && w.data.length === 1 ? w.data[0] : undefined;
  }

  /** For a commutative op: [the operand that is the scalar `value`, the other], either order. */
  withScalar(node: TfNode | undefined, value: number, tol = 1e-6): string | undefined {
    if (!node || node.inputs.length !== 2) return undefined;
    const [a, b] = node.inputs;
    const close = (r: string) => {
      const v = this.scalar(r);
      return v !== undefined && Math.abs(v - value) <= tol * Math.max(1, Math.abs(value));
    };
    return close(a) ? b : close(b) ? a : undefined;
  }

  /** For a commutative op: the operand that `pick` accepts, and the other one. */
  split<T>(node: TfNode | undefined, pick: (ref: string) => T | undefined): [T, string] | undefined {
    if (!node || node.inputs.length !== 2) return undefined;
    const [a, b] = node.inputs;
    const pa = pick(a);
    if (pa !== undefined) return [pa, b];
    const pb = pick(b);
    return pb !== undefined ? [pb, a] : undefined;
  }
}

const same = (a: string | undefined, b: string | undefined) => a !== undefined && b !== undefined && base(a) === base(b);

/** 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): jax.nn.gelu(approximate=True). */
function matchGelu(v: View, out: TfNode): TfNode | undefined {
  if (out.op !== 'Mul') return;
  const parts = v.split(out, (r) => v.inner(r, 'AddV2'));
  if (!parts) return;
  const [onePlus, halfRef] = parts;
  const tanhRef = v.withScalar(onePlus, 1);
  const x = v.withScalar(v.inner(halfRef, 'Mul'), 0.5);
  const tanh = tanhRef && v.inner(tanhRef, 'Tanh');
  const inner = tanh && v.withScalar(v.inner(tanh.inputs[0], 'Mul'), Math.sqrt(2 / Math.PI));
  const sum = inner && v.inner(inner, 'AddV2');
  if (!x || !sum) return;
  const cubicRef = same(sum.inputs[0], x) ? sum.inputs[1] : same(sum.inputs[1], x) ? sum.inputs[0] : undefined;
  const cubic = cubicRef && v.split(v.inner(cubicRef, 'Mul'), (r) => v.inner(r, 'Square'));
  if (!cubic || !same(cubic[0].inputs[0], x)) return;
  if (!same(v.withScalar(v.inner(cubic[1], 'Mul'), 0.044715), x)) return;
  return { name: out.name, op: FUSED.gelu, inputs: [x], attr: {} };
}

/**
 * flax LayerNorm over the last axis, as jax2tf writes it: mean and mean of squares by Sum × 1/C,
 * var = max(0, E[x²] − E[x]²), (x − mean)·rsqrt(var + ε)·γ + β.
 */
function matchLayerNorm(v: View, out: TfNode): TfNode | undefined {
  if (out.op !== 'AddV2') return;
  const withBeta = v.split(out, (r) => (v.weight(r) ? r : undefined));
  if (!withBeta) return;
  const [beta, scaledRef] = withBeta;
  const scaled = v.inner(scaledRef, 'Mul');
  const sides = scaled && v.split(scaled, (r) => v.inner(r, 'Sub'));
  if (!sides) return;
  const [centered, factorRef] = sides;
  const factor = v.split(v.inner(factorRef, 'Mul'), (r) => v.inner(r, 'Rsqrt'));
  if (!factor) return;
  const [rsqrt, gammaRef] = factor;
  const gamma = v.weight(gammaRef);
  const betaW = v.weight(beta)!;
  const c = gamma?.shape[gamma.shape.length - 1];
  if (!gamma || c === undefined || gamma.data.length !== c || betaW.data.length !== c) return;
  // ε is whichever scalar the variance is shifted by.
  const shifted = v.inner(rsqrt.inputs[0], 'AddV2');
  const epsParts = v.split(shifted, (r) => v.scalar(r));
  if (!epsParts) return;
  const [eps, varReshapedRef] = epsParts;
  const varClamped = v.inner(v.inner(varReshapedRef, 'Reshape')?.inputs[0] ?? '', 'Maximum');
  const variance = v.inner(v.withScalar(varClamped, 0) ?? '', 'Sub');
  const [x, meanReshapedRef] = centered.inputs;
  const meanReshaped = v.byName.get(base(meanReshapedRef));
  if (!variance || meanReshaped?.op !== 'Reshape') return;
  const mean = v.byName.get(base(meanReshaped.inputs[0]));
  const meanSq = v.inner(variance.inputs[1], 'Square');
  const sqMean = v.inner(variance.inputs[0], 'Mul');
  if (!mean || mean.op !== 'Mul' || !meanSq || !same(meanSq.inputs[0], mean.name) || !sqMean) return;
  // mean feeds its Reshape and its Square: two uses.
  if (v.uses.get(mean.name) !== 2 || v.uses.get(meanReshaped.name) !== 1) return;
  const sumX = v.inner(v.withScalar(mean, 1 / c) ?? '', 'Sum');
  const sumSq = v.inner(v.withScalar(sqMean, 1 / c) ?? '', 'Sum');
  const square = sumSq && v.inner(sumSq.inputs[0], 'Square');
  if (!sumX || !square || !same(sumX.inputs[0], x) || !same(square.inputs[0], x)) return;
  // Both sums run over the last axis: -1, or the last axis of γ, which broadcasts against x.
  const last = gamma.shape.length - 1;
  const lastAxis = (s: TfNode) => {
    const a = v.weight(s.inputs[1]);
    return a !== undefined && a.data.length === 1 && (a.data[0] === -1 || a.data[0] === last) && !s.attr.keep_dims?.b;
  };
  if (!lastAxis(sumX) || !lastAxis(sumSq!)) return;
  return { name: out.name, op: FUSED.layerNorm, inputs: [x, gammaRef, beta], attr: { epsilon: { f: eps } } };
}

/** A swap of axis k with the last one, as a permutation. */
function swapAxis(perm: number[]): number | undefined {
  const last = perm.length - 1;
  const k = perm.findIndex((p, i) => p !== i);
  if (k < 0 || k === last || perm[k] !== last || perm[last] !== k) return;
  return perm.every((p, i) => i === k || i === last || p === i) ? k : undefined;
}

/** swapaxes → Dense over the last axis → swapaxes back: a Dense applied along axis k. */
function matchDenseOnAxis(v: View, out: TfNode): TfNode | undefined {
  if (out.op !== 'Transpose') return;
  const permOut = v.weight(out.inputs[1]);
  let biased: string | undefined;
  let einsumRef = out.inputs[0];
  const add = v.inner(einsumRef, 'AddV2');
  if (add) {
    const parts = v.split(add, (r) => (v.weight(r) ? r : undefined));
    if (!parts) return;
    [biased, einsumRef] = parts;
  }
  const einsum = v.inner(einsumRef, 'Einsum');
  const eq = einsum && Buffer.from(einsum.attr.equation?.s ?? '', 'base64').toString();
  const m = eq ? /^([a-z]+)([a-z]),\2([a-z])->\1\3$/.exec(eq) : null;
  const w = einsum && v.weight(einsum.inputs[1]);
  const t = einsum && v.inner(einsum.inputs[0], 'Transpose');
  const permIn = t && v.weight(t.inputs[1]);
  if (!m || !w || w.shape.length !== 2 || !permIn || !permOut) return;
  const k = swapAxis(Array.from(permIn.data));
  if (k === undefined || swapAxis(Array.from(permOut.data)) !== k || permIn.data.length !== m[1].length + 1) return;
  if (biased && v.weight(biased)!.data.length !== w.shape[1]) return;
  return { name: out.name, op: FUSED.denseOnAxis, inputs: [t.inputs[0], einsum.inputs[1], ...(biased ? [biased] : [])], attr: { axis: { i: String(k) } } };
}

/** jax.image.resize as jax2tf writes it: two einsums with run-time matrices, then a transpose to NHWC. */
function matchResize(v: View, out: TfNode): TfNode | undefined {
  if (out.op !== 'Transpose') return;
  const perm = v.weight(out.inputs[1]);
  if (!perm || Array.from(perm.data).join() !== '1,0,3,2') return;
  const e2 = v.inner(out.inputs[0], 'Einsum');
  const e1 = e2 && v.inner(e2.inputs[0], 'Einsum');
  const eq = (n: TfNode) => Buffer.from(n.attr.equation?.s ?? '', 'base64').toString();
  if (!e1 || eq(e1) !== 'gb,cgef->bcef' || eq(e2!) !== 'abgd,gf->abdf') return;
  return { name: out.name, op: FUSED.resize, inputs: [e1.inputs[1], e1.inputs[0], e2!.inputs[1]], attr: {} };
}

/** where(x >= 0, x, α·x): jax.nn.leaky_relu. As one op, onnxruntime folds it into the convolution before it. */
function matchLeakyRelu(v: View, out: TfNode): TfNode | undefined {
  if (out.op !== 'SelectV2') return;
  const [condRef, x, scaledRef] = out.inputs;
  const cond = v.inner(condRef, 'GreaterEqual');
  const scaled = v.split(v.inner(scaledRef, 'Mul'), (r) => v.scalar(r));
  if (!cond || !scaled || !same(cond.inputs[0], x) || v.scalar(cond.inputs[1]) !== 0 || !same(scaled[1], x)) return;
  return { name: out.name, op: FUSED.leakyRelu, inputs: [x], attr: { alpha: { f: scaled[0] } } };
}

const MATCHERS = [matchGelu, matchLayerNorm, matchDenseOnAxis, matchResize, matchLeakyRelu];

/** The model with every recognized subgraph replaced by its fused node (same name, so consumers are unchanged). */
export function fusePatterns(model: TfGraphModel): TfGraphModel {
  const v = new View(model.nodes, model.weights, model.outputs);
  const nodes = model.nodes.map((n) => {
    for (const match of MATCHERS) {
      const fused = match(v, n);
      if (fused) return fused;
    }
    return n;
  });
  return { ...model, nodes };
}
