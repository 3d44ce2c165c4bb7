import { KvrInputError, describeValue } from '../errors.js';
import { expectObject, rejectUnknownKeys, requireKey } from '../input/fields.js';
import { calibrationFromJson } from './calibration.js';
import { gpuFromJson, type GpuSpec } from './gpu-spec.js';
import { isShapeProfile, shapeProfileFromJson } from './shape-profile.js';

export const PROFILE_SCHEMA = 'kvr-calibration/profile@1';

/**
 * A calibrated GPU profile (kvr-out/profiles/<gpu>.json, written by `kvr calibrate`; or shipped in
 * calibration/profiles/): the GPU's
 * roofline numbers, the fitted calibration tables, where and how they were measured, the fit error,
 * and the raw samples. Only `gpu` and `calibration` feed the simulator; the rest is provenance.
 */
export function gpuProfileFromJson(value: unknown, field = 'profile'): GpuSpec {
  if (isShapeProfile(value)) return shapeProfileFromJson(value, field);
  const object = expectObject(value, field);
  rejectUnknownKeys(object, ['schema', 'gpu', 'calibration', 'provenance', 'fit', 'samples'], field);
  if (object.schema !== PROFILE_SCHEMA) {
    throw new KvrInputError(`${field}.schema`, `expected "${PROFILE_SCHEMA}" (got ${describeValue(object.schema)})`);
  }
  const provenance = expectObject(requireKey(object, 'provenance', field), `${field}.provenance`);
  const gpu = gpuFromJson(requireKey(object, 'gpu', field), `${field}.gpu`);
  return {
    ...gpu,
    profile: 'calibrated',
    source: `calibrated on ${String(provenance.device ?? 'unknown device')} (${String(provenance.date ?? 'unknown date')})`,
    calibration: calibrationFromJson(requireKey(object, 'calibration', field), `${field}.calibration`),
  };
}

/** Whether a parsed JSON document is a calibration profile (executor tables or shape profile) rather than a plain GPU file. */
export function isGpuProfile(value: unknown): boolean {
  return isShapeProfile(value) || (typeof value === 'object' && value !== null && (value as { schema?: unknown }).schema === PROFILE_SCHEMA);
}
