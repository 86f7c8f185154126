// The per-stream loop that `derain run` and `derain serve` share.
export {
  Pipeline,
  FILE_POLICY,
  LIVE_POLICY,
  type AbortableSink,
  type DropReason,
  type FeedPolicy,
  type FrameInference,
  type PipelineOptions,
  type PipelineSource,
  type PipelineStats,
} from './pipeline.js';
export { InferenceFailed, InputEndedEarly, Interrupted } from './pipeline-errors.js';
