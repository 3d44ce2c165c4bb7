/** Messages between the explorer page and its simulation worker. */
import type { Comparison } from '../../commands/compare.js';
import type { SimResult } from '../../../sim/result/result.js';
import type { ExplorerState } from '../explorer-state.js';
import type { TimelineSlice } from '../timeline-slices.js';

export type WorkerRequest = { id: number; kind: 'simulate' | 'compare' | 'sweep'; state: ExplorerState };

export interface SimulateReply {
  result: SimResult;
  slices: TimelineSlice[];
  /** The scenario's description lines (links, GPU source). */
  links: string;
  gpuSource: string;
  notes: string[];
  /** Time spent resolving the flags and simulating, measured in the worker. */
  simulateMs: number;
}

export interface SweepPoint {
  strategy: string;
  /** The axis value as typed, and as the number the axis plots (tokens, GPUs, bytes/s, seconds). */
  label: string;
  x: number;
  ttft_s: number | null;
  fits: boolean;
  error?: string;
}

export interface SweepReply {
  axis: string;
  points: SweepPoint[];
}

export type WorkerReply =
  | { id: number; kind: 'progress'; done: number; expected: number; label: string }
  | { id: number; kind: 'simulate'; reply: SimulateReply }
  | { id: number; kind: 'compare'; reply: Comparison; simulateMs: number }
  | { id: number; kind: 'sweep'; reply: SweepReply; simulateMs: number }
  | { id: number; kind: 'error'; message: string };
