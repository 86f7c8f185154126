// A real ONNX model that fails at run time on some frames: a Gather whose indices depend on the
// pixels (channel 1000 when the frame has a pixel brighter than 0.5, which does not exist), and
// passes the frame through unchanged otherwise. What a user's export with a data-dependent
// shape or index does; onnxruntime itself raises the error.
import { writeFileSync } from 'node:fs';
import { DataType, GraphBuilder } from '../../src/infer/graph-builder.ts';

export function writeFlakyModel(file: string): string {
  const b = new GraphBuilder('flaky');
  const x = b.input('input', DataType.FLOAT, [1, 3, 'height', 'width']);
  const max = b.op('ReduceMax', [x], { keepdims: 0 });
  const bright = b.op('Cast', [b.op('Greater', [max, b.f32([0.5], [])])], { to: DataType.INT64 });
  const channels = b.op('Add', [b.i64([0, 1, 2]), b.op('Mul', [bright, b.i64([1000], [])])]);
  const out = b.op('Gather', [x, channels], { axis: 1 });
  b.rename(out, 'image');
  b.output('image', DataType.FLOAT, [1, 3, 'height', 'width']);
  writeFileSync(file, b.toBytes(13));
  return file;
}
