import { existsSync, rmSync } from 'node:fs';
import { readMintedValues, scanFiles } from './scan-files';

/*
 * The last step of .ci/run: the test output is complete only once jest has exited, so it is searched here,
 * for the values the run minted (left by the global teardown, see secret-scan.ts), which are then deleted.
 * Compiled on its own by .ci/run and run as `node scan-test-output.js <minted values> <file>...`.
 */

/** The summary line and the leaks found; the minted values are deleted whatever the outcome. */
export function scanTestOutput(valuesFile: string, files: string[]): { summary: string; leaks: string[] } {
  try {
    if (!existsSync(valuesFile)) {
      throw new Error(
        `no minted values at ${valuesFile}: the test run's global teardown did not hand them over`,
      );
    }
    const values = readMintedValues(valuesFile);
    const { leaks } = scanFiles(files, values);
    return {
      summary: `[secret scan] test output: ${files.length} files searched for ${values.length} minted values: ${leaks.length} leaks`,
      leaks,
    };
  } finally {
    rmSync(valuesFile, { force: true });
  }
}

if (require.main === module) {
  const [valuesFile, ...files] = process.argv.slice(2);
  if (valuesFile === undefined || files.length === 0) {
    process.stderr.write('usage: node scan-test-output.js <minted values file> <file>...\n');
    process.exit(2);
  }
  const { summary, leaks } = scanTestOutput(valuesFile, files);
  process.stderr.write(`${summary}\n`);
  if (leaks.length > 0) {
    process.stderr.write(`minted token values found in:\n  ${leaks.join('\n  ')}\n`);
    process.exitCode = 1;
  }
}
