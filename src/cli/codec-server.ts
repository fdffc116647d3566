import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { KEYS_FILE_VARIABLE, KEYS_VARIABLE, codecServerToken, startCodecServer } from '../codec';
import { DEFAULT_TEMPORAL_UI_URL } from '../config/environment';
import { CliContext, CliError, EXIT, parseOptions } from './context';

const TOKEN_VARIABLE = 'ROTATOR_CODEC_SERVER_TOKEN';

const options = z.object({
  host: z.string().min(1),
  port: z
    .string()
    .regex(/^\d+$/, 'expected a port number from 0 (any free port) to 65535')
    .transform(Number)
    .pipe(z.int().max(65535, 'expected a port number from 0 (any free port) to 65535')),
  // Browsers send the origin alone (`http://localhost:8233`), so a URL given with a path still matches.
  uiOrigin: z
    .array(z.url({ protocol: /^https?$/, error: 'expected the Web UI URL, such as http://localhost:8233' }))
    .transform((urls) => urls.map((url) => new URL(url).origin)),
  tokenFile: z.string().optional(),
});

/** The token callers must show: from --token-file, else ROTATOR_CODEC_SERVER_TOKEN; never printed. */
async function readToken(cli: CliContext, tokenFile: string | undefined): Promise<string> {
  let text: string | undefined = cli.config.codecServer.token;
  let source = TOKEN_VARIABLE;
  if (tokenFile !== undefined) {
    source = `--token-file ${tokenFile}`;
    try {
      text = await readFile(tokenFile, 'utf8');
    } catch (error) {
      throw new CliError(
        `cannot read ${source} (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`,
        EXIT.usage,
      );
    }
  }
  if (text === undefined) {
    throw new CliError(
      `no token: give --token-file, or set ${TOKEN_VARIABLE}; the codec server decrypts only for callers that ` +
        'show it (for example: openssl rand -hex 32 > codec-token)',
      EXIT.usage,
    );
  }
  const token = codecServerToken.safeParse(text);
  if (!token.success) throw new CliError(`${source}: ${token.error.issues[0]?.message}`, EXIT.usage);
  return token.data;
}

/** Resolves on SIGINT or SIGTERM. */
function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function registerCodecServer(program: Command, cli: CliContext): void {
  program
    .command('codec-server')
    .summary('serve the payload codec to the Temporal Web UI, so operators read encrypted payloads')
    .description(
      "run Temporal's remote codec endpoint (POST /encode and /decode) with the keys of " +
        `${KEYS_FILE_VARIABLE} or ${KEYS_VARIABLE}, until SIGINT or SIGTERM. Callers show the token as ` +
        '`Authorization: Bearer <token>`, or as the first path segment: give the Web UI ' +
        '`http://HOST:PORT/<token>` as its codec endpoint. Only the --ui-origin origins get CORS headers',
    )
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on, 0 for any (default: $ROTATOR_CODEC_SERVER_PORT, or 8234)')
    .option(
      '--ui-origin <url...>',
      `the Web UI that may call it from a browser, repeatable (default: ${DEFAULT_TEMPORAL_UI_URL})`,
    )
    .option('--token-file <file>', `file holding the token callers must show (default: $${TOKEN_VARIABLE})`)
    .action(
      cli.action(async (given: { host: string; port?: string; uiOrigin?: string[]; tokenFile?: string }) => {
        const { host, port, uiOrigin, tokenFile } = parseOptions(options, {
          ...given,
          port: given.port ?? String(cli.config.codecServer.port),
          uiOrigin: given.uiOrigin ?? [DEFAULT_TEMPORAL_UI_URL],
        });
        const token = await readToken(cli, tokenFile);
        const keys = await cli.codecKeys();
        if (keys === undefined) {
          throw new CliError(
            `no keys to decode with: set ${KEYS_FILE_VARIABLE} or ${KEYS_VARIABLE}`,
            EXIT.usage,
          );
        }
        let server;
        try {
          server = await startCodecServer({ keys, token, uiOrigins: uiOrigin, host, port });
        } catch (error) {
          throw new CliError(
            `cannot listen on ${host}:${port} (${(error as NodeJS.ErrnoException).code ?? String(error)}): ` +
              'choose another --port or --host',
            EXIT.usage,
          );
        }
        cli.io.stdout(
          `codec server on ${server.url} for the Web UI at ${uiOrigin.join(', ')}; ` +
            `keys ${[...keys.byId.keys()].join(', ')} from ${keys.source} (new payloads: ${keys.current})\n` +
            `Web UI codec endpoint: ${server.url}/<token>, or ${server.url} with Authorization: Bearer <token>\n`,
        );
        await untilStopped();
        await server.close();
        return EXIT.ok;
      }),
    );
}
