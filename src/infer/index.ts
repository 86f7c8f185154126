// The front door of inference: everything outside src/infer imports from here. Choosing and
// opening a model (open-model), its settings (model-settings), the typed errors a user can act
// on, model cards and the importer of generated models.
export { Derainer, type BatchItem, type Derained, type DerainerOptions } from './derainer.js';
export { AUTO_BATCH, type BatchSetting } from './batch-setting.js';
export { EpUnavailableError, ModelError, SettingsError, isInferUserError } from './errors.js';
export { parseSize, type Size } from './infer-size.js';
export { MODEL_DEFAULTS, modelSettingsFields, parseModelSettings, withDefaults, type ModelSettings } from './model-settings.js';
export { CPU_DEFAULT, QUALITY_DEFAULT, checkModel, chooseModel, openModel, runsOnGpu, type ModelChoice, type ModelPurpose, type OpenedModel } from './open-model.js';
export { MODELS_DIR, readCard, resolveModel, type ModelCard } from './model-card.js';
export { BUILTIN_MODELS, BUILTIN_NAME } from './builtin-model.js';
export { measureSpeed } from './model-speed.js';
export { EP_CHOICES, type EpChoice } from './session.js';
export { importSource, importSpecOf, importTfjsModel } from './tfjs/import-model.js';
// Other graphs built around a model (the detectors of src/detect): the builder, the merge, a session.
export { DataType, GraphBuilder } from './graph-builder.js';
export { embedModel } from './graph-merge.js';
export { decodeModel, defaultOpset, encodeModel, type ModelProto } from './onnx-proto.js';
export { openSession, type OpenedSession } from './session.js';
