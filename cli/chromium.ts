import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Finds the Chromium that the HTML report's test drives (playwright-core brings no browser).
 * Order: $KVR_CHROMIUM (must exist when set), then chromium, chromium-browser, google-chrome on
 * $PATH. Pure apart from the file checks, so a test can point it at a fake PATH.
 */
export const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'] as const;
/** The one command that installs Debian's Chromium (what the pretest step runs as root). */
export const INSTALL_COMMAND = 'apt-get update && apt-get install -y chromium';

export type ChromiumLookup =
  | { found: true; path: string }
  | { found: false; reason: string; override?: boolean };

export function findChromium(env: Record<string, string | undefined>, isExecutable = executable): ChromiumLookup {
  const override = env.KVR_CHROMIUM;
  if (override !== undefined && override !== '') {
    return isExecutable(override)
      ? { found: true, path: override }
      : { found: false, reason: `KVR_CHROMIUM=${override} is not an executable file`, override: true };
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    for (const name of CHROMIUM_NAMES) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return { found: true, path: candidate };
    }
  }
  return { found: false, reason: `no ${CHROMIUM_NAMES.join(', ')} on PATH` };
}

/** What the pretest step does when Chromium is absent: install it as root, or say the command. */
export function chromiumPlan(lookup: ChromiumLookup, isRoot: boolean, hasApt: boolean): { action: 'ok' | 'install' | 'fail'; message: string } {
  if (lookup.found) return { action: 'ok', message: `chromium: ${lookup.path}` };
  if (lookup.override === true) return { action: 'fail', message: `the HTML report's test needs Chromium: ${lookup.reason} (unset it to use or install the system chromium)` };
  if (isRoot && hasApt) return { action: 'install', message: `chromium: ${lookup.reason}; installing Debian's: ${INSTALL_COMMAND}` };
  const how = hasApt ? `sudo sh -c '${INSTALL_COMMAND}'` : 'install Chromium with your package manager';
  return {
    action: 'fail',
    message: `the HTML report's test needs Chromium (${lookup.reason}); run: ${how}  (or set KVR_CHROMIUM=/path/to/chromium)`,
  };
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
