import { describeDevices } from '../../native/js/executor.js';
import type { CliIo } from '../io.js';

/** `kvr devices`: what this build of the native executor and this machine support. */
export async function devicesCommand(flags: { json?: boolean }, io: CliIo): Promise<void> {
  const devices = (await describeDevices()) as {
    build: { cpu: boolean; cuda: boolean; cublas?: boolean; nccl: boolean };
    cpu: { threads: number };
    cuda: { devices?: { index: number; name: string; memory_bytes: number; sms: number; compute_capability: string }[]; error?: string };
  };
  if (flags.json) {
    io.stdout(`${JSON.stringify(devices, null, 2)}\n`);
    return;
  }
  const yes = (flag: boolean | undefined) => (flag ? 'yes' : 'no');
  const lines = [
    `build: cpu backend yes, cuda backend ${yes(devices.build.cuda)}, nccl ${yes(devices.build.nccl)}`,
    `cpu: ${devices.cpu.threads} threads`,
  ];
  if (devices.cuda.error !== undefined) lines.push(`cuda: ${devices.cuda.error}`);
  for (const d of devices.cuda.devices ?? []) {
    lines.push(`cuda ${d.index}: ${d.name}, ${(d.memory_bytes / 1e9).toFixed(1)} GB, ${d.sms} SMs, compute ${d.compute_capability}`);
  }
  io.stdout(`${lines.join('\n')}\n`);
}
