import { Command, CommanderError } from 'commander';
import { KvrInputError } from '../sim/errors.js';
// Each command's module (and what it pulls in: ajv, yaml, csv-parse, vega, the native addon) is
// imported only when that command runs, so `kvr --help` and a small `kvr simulate` start fast.
import { PLOT_FIGURES } from './commands/plot.js';
import type { PlotFlags } from './commands/plot.js';
import type { ReportFlags } from './commands/report.js';
import type { PartitionFlags } from './commands/partition.js';
import type { BuildTableFlags, ValidateFlags } from './commands/partition-table.js';
import type { SimulateFlags } from './commands/simulate.js';
import type { ExecFlags } from './commands/exec.js';
import type { CalibrateFlags } from './commands/calibrate.js';
import type { ValidateFlags as ValidateCommandFlags } from './commands/validate.js';
import type { CompareFlags } from './commands/compare.js';
import type { CollectiveFlags } from './commands/collective.js';
import type { MergeFlags, SweepFlags } from './commands/sweep.js';
import type { PlanFlags } from './commands/plan.js';
import type { ExploreFlags } from './commands/explore.js';
import { INPUT_ERROR_CODES, NativeError, UNAVAILABLE_ERROR_CODES } from '../native/js/native-error.js';
import { addScenarioOptions, type ScenarioFlags } from './scenario-flags.js';
import type { CliIo } from './io.js';
import { oneLine } from './load-json.js';
import { kvrVersion } from './project-root.js';

export const EXIT_OK = 0;
export const EXIT_INTERNAL = 1;
export const EXIT_USAGE = 2;
/** The machine or build lacks what was asked for (CUDA, a device, NCCL, the addon). */
export const EXIT_UNAVAILABLE = 3;
export const EXIT_OUT_OF_MEMORY = 4;

/** Field names the simulator library uses, spelled as the CLI flags that set them. */
const FLAG_OF_FIELD: Record<string, string> = {
  gpus: '--gpus',
  context: '--context',
  partition: '--partition',
  strategy: '--strategy',
  topology: '--topology',
  granularity: '--granularity',
  search: '--search',
  table: '--table',
  tp: '--tp',
  pp: '--pp',
  chunk: '--chunk',
  ep: '--ep',
  expert_imbalance: '--expert-imbalance',
  channels: '--channels',
  protocol: '--protocol',
  collective: '--collective',
  dtype: '--dtype',
  ffn_dtype: '--ffn-dtype',
  kv_dtype: '--kv-dtype',
};

/**
 * Runs the kvr command line and returns the exit code: 0 on success, 2 on bad input (one line on
 * stderr naming the field and what is allowed), 3 when the build or machine lacks what was asked
 * for (CUDA, a GPU, NCCL), 4 when the plan does not fit in memory, 1 on an internal error. Never
 * throws.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const program = new Command('kvr')
    .description('Predict and measure time-to-first-token of long-context prefill spread over many GPUs')
    .version(kvrVersion(), '-V, --version', "print kvr's version")
    .exitOverride()
    .enablePositionalOptions()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true);

  addScenarioOptions(
    program
      .command('simulate')
      .description('simulate one prefill and print its TTFT, per-rank times, traffic and memory')
      .option('--json', 'print the kvr-sim/result@1 JSON')
      .option('--trace <file>', 'write a Perfetto trace (open in ui.perfetto.dev)')
      .option('--quiet', 'no progress on stderr (shown for kvr-s searches that run over 2 s)'),
  ).action((flags: SimulateFlags) => import('./commands/simulate.js').then((m) => m.simulateCommand(flags, io)));

  const partition = addScenarioOptions(
    program
      .command('partition')
      .description('search the KV-Runahead partition with the lowest simulated TTFT (KVR-S) for a scenario')
      .option('--json', 'print the kvr-partition/result@1 JSON')
      .option('--measure', "measure the simulator's best partitions on the executor (links emulated) and keep the measured best")
      .option('--measure-top <n>', 'how many of the best simulated partitions to measure (default: 5)')
      .option('--backend <name>', 'executor backend for --measure: cpu|cuda (default: cpu)')
      .option('--repeats <n>', 'timed runs per measured partition (default: 3)')
      .option('--timings', "print the search's wall time on stderr")
      .option('--quiet', 'no progress on stderr (shown for searches that run over 2 s)')
      // Options after `build-table`/`validate` belong to them, not to `partition`.
      .enablePositionalOptions(),
  ).action((flags: PartitionFlags) => import('./commands/partition.js').then((m) => m.partitionCommand(flags, io)));
  addScenarioOptions(
    partition
      .command('build-table')
      .description('search partitions over lists of --gpus, --bandwidth and --context and write a partition table for kvr-p')
      .option('--out <file>', 'where to write the table (default: kvr-out/partition-tables/<model>.<gpu>.<topology>.<attention>.json)')
      .option('--quiet', 'no progress on stderr'),
  ).action((flags: BuildTableFlags) => import('./commands/partition-table.js').then((m) => m.buildTableCommand(flags, argv, io)));
  addScenarioOptions(
    partition
      .command('validate')
      .description('score kvr-p predictors against kvr-s on contexts not in a table (--table FILE)')
      .option('--json', 'print the report as JSON'),
  ).action((flags: ValidateFlags) => import('./commands/partition-table.js').then((m) => m.validateTableCommand(flags, io)));

  addScenarioOptions(
    program
      .command('export-plan')
      .description('print the kvr-plan@1 JSON the simulator runs for a scenario (input of kvr exec and kvr-exec)'),
  ).action((flags: ScenarioFlags) => import('./commands/export-plan.js').then((m) => m.exportPlanCommand(flags, io)));

  addScenarioOptions(
    program
      .command('exec')
      .description('run a plan on the native executor (a plan file, or the plan of the scenario flags) and measure it')
      .argument('[plan]', 'a kvr-plan@1 JSON file (from kvr export-plan)')
      .option('--backend <name>', 'cpu|cuda (default: cpu)')
      .option('--transport <name>', 'auto|peer|nccl (default: auto)')
      .option('--warmup <n>', 'untimed runs first (default: 1)')
      .option('--repeats <n>', 'timed runs; TTFT is their median (default: 3)')
      .option('--seed <n>', 'seed of the random weights and tokens (default: 1234)')
      .option('--json', 'print the kvr-exec/measurement@1 JSON')
      .option('--trace <file>', 'write the measured Perfetto trace'),
  ).action((plan: string | undefined, flags: ExecFlags) => import('./commands/exec.js').then((m) => m.execCommand(plan, flags, io)));

  program
    .command('calibrate')
    .option('--quiet', 'no progress lines on stderr')
    .description('measure ops on a device through the executor, or fit measurement files (--from), and write kvr-out/profiles/<name>.json (--gpu <name> finds it there)')
    .option('--from <files...>', 'fit a shape profile from measurement files (kvr-measurements/h200-pytorch-microbench@1, kvr-measurements/torch-probe@1) instead of measuring')
    .option('--base <gpu>', 'with --from: the GPU preset the files measure (default: recognised from their gpu field)')
    .option('--stack <name>', 'with --from: eager|fused, the software stack the profile prices memory-bound kernels for (default: eager)')
    .option('--backend <name>', 'cpu|cuda (default: cpu)')
    .option('--name <gpu>', 'profile name, the --gpu it calibrates (default: cpu; required for cuda, e.g. h200)')
    .option('--model <list>', 'models to time (default: tiny-llama,tiny-falcon on cpu; the 7-13B presets on cuda)')
    .option('--tokens <list>', 'chunk sizes of the grid')
    .option('--prefixes <list>', 'attention prefixes of the grid')
    .option('--link-bandwidth <rate>', 'emulated link of the transfer samples')
    .option('--link-latency <time>', 'its latency')
    .option('--link-tokens <list>', 'chunk sizes whose K,V the transfer samples move')
    .option('--sm-partitions <n>', 'cuda: time ops on one of n SM partitions (green contexts) of the GPU; the profile is then <name>/<k>sm, k its SMs (default: 0, the whole GPU)')
    .option('--warmup <n>', 'untimed runs of each op (default: 1)')
    .option('--repeats <n>', 'timed runs of each op (default: 5)')
    .option('--out <file>', 'where to write the profile (default: kvr-out/profiles/<name>.json in the working directory)')
    .action((flags: CalibrateFlags) => import('./commands/calibrate.js').then((m) => m.calibrateCommand(flags, argv, io)));

  program
    .command('validate')
    .option('--quiet', 'no progress lines on stderr')
    .description('run a matrix of scenarios on the executor and compare with the simulator under a calibrated profile')
    .option('--gpu <name>', 'the calibrated profile (default: cpu)')
    .option('--backend <name>', 'cpu|cuda (default: cpu)')
    .option('--model <list>', 'models (default: tiny-llama on cpu, llama2-7b on cuda)')
    .option('--repeats <n>', 'timed runs per case (default: 3)')
    .option('--single <list>', 'contexts of the single-rank cases, or none')
    .option('--ranks <list>', 'rank counts of the multi-rank cases, or none')
    .option('--contexts <list>', 'contexts of the multi-rank cases')
    .option('--sm-partitions <n>', 'cuda: run the multi-rank cases one rank per SM partition of one GPU (--gpu: a slice profile such as h200/16sm)')
    .option('--gpu-whole <name>', 'with --sm-partitions: whole-GPU profile for the single-rank cases (skipped without it)')
    .option('--strategies <list>', 'multi-rank strategies (default: tsp,kvr-e,kvr-s)')
    .option('--links <list>', 'links of the multi-rank cases: native (the GPUs\' own, unpaced; cuda) or rates to pace to (default: 300 GB/s,10 GB/s on cuda)')
    .option('--paper-grid', 'print the plan of the paper\'s grid for an 8-GPU host as JSON (native/scripts/gpu-node-validate.sh runs it); runs nothing')
    .option('--host-gpus <n>', 'with --paper-grid: GPUs of the host')
    .option('--budget-s <n>', 'with --paper-grid: seconds for the calibration and validation runs (default: 3600)')
    .option('--out <dir>', 'report folder (default: calibration/validation/<gpu>; with --paper-grid: the runs\' parent folder)')
    .action((flags: ValidateCommandFlags) => import('./commands/validate.js').then((m) => m.validateCommand(flags, io)));

  program
    .command('devices')
    .description('what this build of the native executor and this machine support')
    .option('--json', 'print JSON')
    .action((flags: { json?: boolean }) => import('./commands/devices.js').then((m) => m.devicesCommand(flags, io)));

  addScenarioOptions(
    program
      .command('compare')
      .description('simulate one scenario under every strategy: TTFT, speedup over the best baseline, bytes, memory, decode re-shard')
      .option('--json', 'print the kvr-compare@3 JSON')
      .option('--quiet', 'no progress on stderr (shown for kvr-s searches that run over 2 s)'),
  ).action((flags: CompareFlags) => import('./commands/compare.js').then((m) => m.compareCommand(flags, io)));

  addScenarioOptions(
    program
      .command('collective')
      .description('one collective per size on a topology, as nccl-tests prints it: size, time, algbw, busbw, and the algorithm, protocol and channels that ran')
      .option('--op <name>', 'all-reduce|all-gather|reduce-scatter|all-to-all|send-recv (default: all-reduce)')
      .option('--sizes <list>', 'sizes: 1G, 1M,8M or 1M:4G (doubling; K, M, G = 1024^1..3 bytes; default 1M:1G)')
      .option('--json', 'print the kvr-collective@1 JSON'),
  ).action((flags: CollectiveFlags) => import('./commands/collective.js').then((m) => m.collectiveCommand(flags, io)));

  program
    .command('demo')
    .description("the KV-Runahead paper's setting on built-in defaults: TTFT of single, TSP and KVR")
    .option('--json', 'print the rows as JSON')
    .action((flags: { json?: boolean }) => import('./commands/demo.js').then((m) => m.demoCommand(flags, io)));

  program
    .command('plot')
    .description("draw one of the notebooks' figures: <figure>.svg, .png, .vl.json (Vega-Lite), .csv and .json")
    .argument('<figure>', PLOT_FIGURES.join('|'))
    .option('--out <dir>', 'output folder (default: notebooks/out/<notebook>)')
    .option('--model <list>', 'models (presets or JSON files), comma-separated')
    .option('--gpu <name|file>', 'GPU preset, calibrated profile or JSON file')
    .option('--gpus <list>', 'GPU counts, e.g. 2,4,8')
    .option('--bandwidth <list>', 'link bandwidths, e.g. "300 GB/s,10 GB/s"')
    .option('--context <list>', 'contexts in tokens, e.g. 4096,16384')
    .action((figure: string, flags: PlotFlags) => import('./commands/plot.js').then((m) => m.plotCommand(figure, flags, io)));

  program
    .command('report')
    .description('one static HTML page: every figure, a scenario explorer, the paper\'s claims reproduced, the assumptions')
    .option('--out <dir>', 'output folder (default: kvr-out/report)')
    .option('--quick', 'small grids (for tests; numbers indicative only)')
    .option('--quiet', 'no progress on stderr')
    .action((flags: ReportFlags) => import('./commands/report.js').then((m) => m.reportCommand(flags, io)));

  program
    .command('explore')
    .description('a live what-if explorer in the browser: edit any scenario field, see TTFT, memory and the per-rank timeline at once (the simulator runs in the page)')
    // Its default port is written here, not imported: the command's module bundles with esbuild.
    .option('--port <n>', 'port on 127.0.0.1, 0 for any free one (default: 8080)')
    .action((flags: ExploreFlags) => import('./commands/explore.js').then((m) => m.exploreCommand(flags, io)));

  program
    .command('sweep')
    .description('simulate every scenario of a spec (YAML/JSON product of axes, or CSV rows) on all cores; writes CSV and JSON lines, resumable, shardable')
    .argument('<spec>', 'sweep spec: .yaml, .json or .csv (schema: schemas/sweep-spec.schema.json)')
    .option('--out <prefix>', 'write <prefix>.csv and <prefix>.jsonl (default: kvr-out/<spec name>)')
    .option('--jobs <n>', 'worker threads (default: every core; 0 computes in the main thread)')
    .option('--shard <i/N>', 'run shard i of N (1-based); also read from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX')
    .option('--shards <n>', 'number of shards when the index comes from the environment')
    .option('--limit <rows>', 'compute at most this many rows, then stop (run again to go on)')
    .option('--yes', 'run a spec of more than 1,000,000 scenarios')
    .option('--restart', 'ignore earlier output and start again')
    .option('--quiet', 'no progress on stderr')
    .action((spec: string, flags: SweepFlags) => import('./commands/sweep.js').then((m) => m.sweepCommand(spec, flags, io)));

  program
    .command('merge')
    .description('combine the outputs of kvr sweep SPEC --shard i/N into the unsharded output (byte-identical)')
    .argument('<spec>', 'the sweep spec the shards ran')
    .option('--out <prefix>', 'output prefix the shards used (default: next to the spec)')
    .option('--shards <n>', 'number of shards (default: found beside the output prefix)')
    .option('--yes', 'a spec of more than 1,000,000 scenarios')
    .action((spec: string, flags: MergeFlags) => import('./commands/sweep.js').then((m) => m.mergeCommand(spec, flags, io)));

  program
    .command('plan')
    .description('cheapest GPU configurations that meet a TTFT target, and the Pareto frontier of cost vs TTFT')
    .option('--model <list>', 'models (presets or JSON files), comma-separated (default: llama2-7b)')
    .option('--context <spec>', 'tokens (16384), a weighted list (4096:0.6,131072:0.4) or percentiles (p50=8192,p95=65536) (default: 16384)')
    .option('--ttft <time>', 'TTFT target, e.g. "2 s" (required)')
    .option('--percentile <p>', 'the TTFT percentile over the contexts that must meet the target (default: the highest the --context spec gives)')
    .option('--catalogue <file>', 'hardware catalogue, YAML or JSON (schema: schemas/plan-catalogue.schema.json; default: built-in presets at illustrative prices)')
    .option('--strategies <list>', 'strategies to consider (default: all but kvr and kvr-s; kvr-p stands for the searched partition)')
    .option('--attention <impl>', 'flash|eager (default: flash)')
    .option('--dtype <dtype>', 'fp16|bf16|fp8: every GEMM, activations and attention (default: fp16; fp8 rows on GPUs without an fp8 peak are errors)')
    .option('--ffn-dtype <dtype>', 'fp16|bf16|fp8: the MLP GEMMs alone (default: --dtype)')
    .option('--kv-dtype <dtype>', 'fp16|bf16|fp8: the KV cache (default: --dtype)')
    .option('--band <which>', 'TTFT band of calibrated profiles: max or mean fit error (default: max)')
    .option('--top <n>', 'rows of the cheapest table (default: 5)')
    .option('--out <prefix>', 'write <prefix>.csv, <prefix>.svg and <prefix>.vl.json (default: kvr-plan)')
    .option('--no-figure', 'skip the SVG and Vega-Lite files')
    .option('--jobs <n>', 'worker threads (default: every core)')
    .option('--json', 'print kvr-plan/result@1 JSON')
    .option('--quiet', 'no progress on stderr')
    .action((flags: PlanFlags) => import('./commands/plan.js').then((m) => m.planCommand(flags, io)));

  if (argv.length === 0) {
    io.stdout(program.helpInformation());
    return EXIT_OK;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    return reportError(error, io);
  }
}

function reportError(error: unknown, io: CliIo): number {
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) return EXIT_OK; // --help, --version
    io.stderr(`kvr: ${oneLine(error.message.replace(/^error: /, ''))}\n`);
    return EXIT_USAGE;
  }
  if (error instanceof NativeError) {
    const where = error.where ? ` (${error.where})` : '';
    io.stderr(`kvr: ${error.code}: ${oneLine(error.message)}${where}\n`);
    if (INPUT_ERROR_CODES.includes(error.code)) return EXIT_USAGE;
    if (UNAVAILABLE_ERROR_CODES.includes(error.code)) return EXIT_UNAVAILABLE;
    return error.code === 'out-of-memory' ? EXIT_OUT_OF_MEMORY : EXIT_INTERNAL;
  }
  if (error instanceof KvrInputError) {
    const field = FLAG_OF_FIELD[error.field] ?? error.field;
    io.stderr(`kvr: ${field}: ${oneLine(error.detail)}\n`);
    return EXIT_USAGE;
  }
  const detail = process.env.KVR_DEBUG && error instanceof Error ? ` ${error.stack}` : '';
  io.stderr(`kvr: internal error: ${oneLine(error)}${detail ? ' (KVR_DEBUG)' : ''}\n`);
  if (detail) io.stderr(`${detail}\n`);
  return EXIT_INTERNAL;
}
