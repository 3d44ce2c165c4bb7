/**
 * The explorer's one script. In a page it draws the explorer into #kvr-explorer and starts
 * itself again as a Web Worker (from its own inline text), which then runs the simulations.
 */
import { startPage } from './page.js';
import { handleRequest } from './worker.js';
import type { WorkerRequest } from './protocol.js';

declare const document: unknown;
declare const self: { onmessage: ((event: { data: WorkerRequest }) => void) | null; postMessage(message: unknown): void };

if (typeof document === 'undefined') {
  self.onmessage = (event) => handleRequest(event.data, (reply) => self.postMessage(reply));
} else {
  startPage();
}
