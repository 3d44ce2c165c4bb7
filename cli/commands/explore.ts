import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KvrInputError } from '../../sim/errors.js';
import { parseIntegerText } from '../../sim/input/fields.js';
import { explorerScript } from '../explore/bundle.js';
import { explorerPage } from '../explore/page-html.js';
import type { CliIo } from '../io.js';
import { oneLine } from '../load-json.js';

export interface ExploreFlags {
  port?: string;
}

export const DEFAULT_EXPLORE_PORT = 8080;

export interface RunningExplorer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * Serves the explorer page (cli/explore/) on 127.0.0.1: one HTML page with everything inline,
 * the simulator included, so the browser fetches nothing else. Port 0 takes any free port.
 */
export async function startExplorer(port: number): Promise<RunningExplorer> {
  const html = explorerPage(await explorerScript());
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    } else if (path === '/' || path === '/index.html') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : html);
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('kvr explore serves one page: /\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? `port ${port} is in use (pick another, or 0 for any free port)` : error.code === 'EACCES' ? `port ${port} needs privileges (use one above 1023)` : oneLine(error);
      reject(new KvrInputError('--port', why));
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}/`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `kvr explore [--port 8080]`: serves until interrupted; prints the URL to open. */
export async function exploreCommand(flags: ExploreFlags, io: CliIo): Promise<void> {
  const port = parseIntegerText(flags.port ?? String(DEFAULT_EXPLORE_PORT), '--port', { min: 0, max: 65535 });
  const running = await startExplorer(port);
  io.stdout(`kvr explore: open ${running.url} (Ctrl-C stops it)\n`);
}
