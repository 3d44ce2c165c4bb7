import { describe, expect, test } from 'vitest';
import { parseSmPartitions, sliceProfileName } from '../../calibration/calibrate.js';

describe('slice profiles of SM partitions', () => {
  test('the partition layout is read from the cuda backend device string', () => {
    expect(parseSmPartitions('NVIDIA H200 x1, 8 SM partitions of 16 SMs')).toEqual({ partitions: 8, sms_per_partition: 16 });
    expect(parseSmPartitions('NVIDIA H100 80GB HBM3 x1, 1 SM partition of 128 SMs')).toEqual({ partitions: 1, sms_per_partition: 128 });
    expect(parseSmPartitions('NVIDIA H200 x1')).toBeUndefined();
  });

  test('a slice profile is named <gpu>/<k>sm', () => {
    expect(sliceProfileName('h200', 16)).toBe('h200/16sm');
  });
});
