/**
 * Progress of the kvr-s searches inside simulate, partition and compare: the search tells each
 * simulation (SearchOptions.progress; sim/ keeps no clock), the CLI times them and shows a bar
 * with ETA on stderr once the search has run PROGRESS_AFTER_MS, so short searches print nothing.
 */
import { DEFAULT_SEARCH, type SearchProgress } from '../sim/partition/search-partition.js';
import type { Scenario } from '../sim/simulate.js';
import type { CliIo } from './io.js';
import { commandProgress, PROGRESS_AFTER_MS } from './sweep/progress.js';

export interface SearchProgressDisplay {
  progress: SearchProgress;
  /** Ends the bar's line, if one was drawn. */
  finish(): void;
}

export function searchProgress(io: CliIo, label: string, quiet: boolean | undefined): SearchProgressDisplay {
  const bar = commandProgress(io, 0, label, quiet, PROGRESS_AFTER_MS);
  return {
    progress: (_simulations, expected) => {
      bar.setTotal(expected);
      bar.tick();
    },
    finish: () => bar.finish(),
  };
}

/** The scenario with `progress` on its search, where its strategy searches (kvr-s; kvr-tp without chunks). */
export function withSearchProgress(scenario: Scenario, progress: SearchProgress): Scenario {
  const searches = scenario.strategy === 'kvr-s' || (scenario.strategy === 'kvr-tp' && scenario.partition === undefined);
  return searches ? { ...scenario, search: { ...(scenario.search ?? DEFAULT_SEARCH), progress } } : scenario;
}
