// What can go wrong in inference that a user can fix. Typed here, mapped to exit codes and
// messages only by the callers that face the user (the CLI, the service's stream states).

/** The model asked for cannot be used: unknown, a bad card or file, an input it does not take. */
export class ModelError extends Error {
  override name = 'ModelError';
}

/** The execution provider asked for is not installed, or finds no device. */
export class EpUnavailableError extends Error {
  override name = 'EpUnavailableError';
}

/** A model setting out of range: an inference size larger than the input, a scale outside (0, 1]. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Errors of this floor that are the user's to fix (bad input), as opposed to failures while working. */
export function isInferUserError(err: unknown): boolean {
  return err instanceof ModelError || err instanceof EpUnavailableError || err instanceof SettingsError;
}
