import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { EventQueue, type PoppedEvent } from '../../../sim/engine/event-queue.js';
import { propertyOptions } from '../../support/property.js';

describe('EventQueue', () => {
  test('pops by time, then by insertion order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 300 }), (times) => {
        const queue = new EventQueue();
        times.forEach((time, i) => queue.push(time, 0, i, 0));
        const out: PoppedEvent = { time: 0, type: 0, op: 0, version: 0 };
        const popped: [number, number][] = [];
        while (queue.size > 0) {
          queue.pop(out);
          popped.push([out.time, out.op]);
        }
        const expected = times.map((time, i): [number, number] => [time, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        expect(popped).toEqual(expected);
      }),
      propertyOptions(200),
    );
  });
});
