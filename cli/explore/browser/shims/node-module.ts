/**
 * node:module in the browser bundle: sim/units/quantity.ts loads mathjs lazily through
 * createRequire (so the CLI starts without it); in the page it is bundled and handed over here.
 */
import math from 'mathjs/lib/browser/math.js';

const MODULES: Record<string, unknown> = { 'mathjs/lib/browser/math.js': math };

export function createRequire(_from: string): (id: string) => unknown {
  return (id: string) => {
    if (!(id in MODULES)) throw new Error(`the browser bundle has no module ${id}`);
    return MODULES[id];
  };
}
