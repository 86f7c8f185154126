// Element-wise TensorFlow ops: both sides broadcast as in NumPy, as ONNX's do.
import { rankOf, onnxType, type OpContext, type Value, type VType } from './values.js';

export type OpHandler = (ctx: OpContext) => Value;

function unary(onnxOp: string, floatOnly = false): OpHandler {
  return (ctx) => {
    const x = ctx.inputs[0];
    if (floatOnly && x.type !== 'float') ctx.fail(`it is implemented for float tensors only, this one is ${x.type}`);
    return { type: x.type, rank: x.rank, name: ctx.b.op(onnxOp, [ctx.tensor(0)]) };
  };
}

function binary(onnxOp: string, result?: VType): OpHandler {
  return (ctx) => {
    const [a, b] = ctx.inputs;
    return { type: result ?? a.type, rank: rankOf(a, b), name: ctx.b.op(onnxOp, [ctx.tensor(0), ctx.tensor(1)]) };
  };
}

/** TensorFlow's FloorMod: the remainder takes the divisor's sign. */
const floorMod: OpHandler = (ctx) => {
  const [a, b] = ctx.inputs;
  if (a.type === 'int') return { type: 'int', rank: rankOf(a, b), name: ctx.b.op('Mod', [ctx.tensor(0), ctx.tensor(1)], { fmod: 0 }) };
  // ONNX's float Mod is C's fmod (the dividend's sign): use a − floor(a/b)·b instead.
  const q = ctx.b.op('Floor', [ctx.b.op('Div', [ctx.tensor(0), ctx.tensor(1)])]);
  return { type: 'float', rank: rankOf(a, b), name: ctx.b.op('Sub', [ctx.tensor(0), ctx.b.op('Mul', [q, ctx.tensor(1)])]) };
};

/** TensorFlow's FloorDiv rounds towards −∞; ONNX's integer Div truncates towards 0. */
const floorDiv: OpHandler = (ctx) => {
  const [a, b] = ctx.inputs;
  if (a.type === 'float') return { type: 'float', rank: rankOf(a, b), name: ctx.b.op('Floor', [ctx.b.op('Div', [ctx.tensor(0), ctx.tensor(1)])]) };
  // a − floormod(a, b) is an exact multiple of b, so the truncating division is exact.
  const exact = ctx.b.op('Sub', [ctx.tensor(0), ctx.b.op('Mod', [ctx.tensor(0), ctx.tensor(1)], { fmod: 0 })]);
  return { type: 'int', rank: rankOf(a, b), name: ctx.b.op('Div', [exact, ctx.tensor(1)]) };
};

const cast: OpHandler = (ctx) => {
  const to = ctx.attrType('DstT');
  const x = ctx.inputs[0];
  if (to === x.type) return { ...x, name: ctx.tensor(0), value: undefined };
  return { type: to, rank: x.rank, length: x.length, name: ctx.b.op('Cast', [ctx.tensor(0)], { to: onnxType(to) }) };
};

export const ELEMENTWISE_OPS: Record<string, OpHandler> = {
  AddV2: binary('Add'),
  Add: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  RealDiv: binary('Div'),
  // TensorFlow.js, the models' home, floors integer Div.
  Div: (ctx) => (ctx.inputs[0].type === 'int' ? floorDiv(ctx) : binary('Div')(ctx)),
  FloorDiv: floorDiv,
  FloorMod: floorMod,
  Maximum: binary('Max'),
  Minimum: binary('Min'),
  Pow: binary('Pow'),
  SquaredDifference: (ctx) => {
    const d = ctx.b.op('Sub', [ctx.tensor(0), ctx.tensor(1)]);
    return { type: ctx.inputs[0].type, rank: rankOf(...ctx.inputs), name: ctx.b.op('Mul', [d, d]) };
  },
  Square: (ctx) => ({ type: ctx.inputs[0].type, rank: ctx.inputs[0].rank, name: ctx.b.op('Mul', [ctx.tensor(0), ctx.tensor(0)]) }),
  Rsqrt: (ctx) => ({ type: 'float', rank: ctx.inputs[0].rank, name: ctx.b.op('Reciprocal', [ctx.b.op('Sqrt', [ctx.tensor(0)])]) }),
  Sqrt: unary('Sqrt', true),
  Reciprocal: unary('Reciprocal', true),
  Neg: unary('Neg'),
  Abs: unary('Abs'),
  Sign: unary('Sign'),
  Floor: unary('Floor', true),
  Exp: unary('Exp', true),
  Log: unary('Log', true),
  Tanh: unary('Tanh', true),
  Sigmoid: unary('Sigmoid', true),
  Relu: unary('Relu', true),
  Erf: unary('Erf', true),
  Identity: (ctx) => ({ ...ctx.inputs[0] }),
  StopGradient: (ctx) => ({ ...ctx.inputs[0] }),
  Cast: cast,
  Equal: binary('Equal', 'bool'),
  NotEqual: (ctx) => ({ type: 'bool', rank: rankOf(...ctx.inputs), name: ctx.b.op('Not', [ctx.b.op('Equal', [ctx.tensor(0), ctx.tensor(1)])]) }),
  Greater: binary('Greater', 'bool'),
  GreaterEqual: binary('GreaterOrEqual', 'bool'),
  Less: binary('Less', 'bool'),
  LessEqual: binary('LessOrEqual', 'bool'),
  LogicalAnd: binary('And', 'bool'),
  LogicalOr: binary('Or', 'bool'),
  LogicalNot: unary('Not'),
  SelectV2: (ctx) => {
    const [, a] = ctx.inputs;
    return { type: a.type, rank: rankOf(...ctx.inputs), name: ctx.b.op('Where', [ctx.tensor(0), ctx.tensor(1), ctx.tensor(2)]) };
  },
};
