import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/*
 * The file half of the run-wide secret scan, on Node's own modules only: the global teardown runs it over
 * the run's folder, and .ci/run compiles it on its own to scan the test output once jest has exited.
 */

/** The values in `text`, by their position in `values`: positions, never the values, are reported. */
export function valuesFoundIn(text: string, values: string[]): number[] {
  return values.flatMap((value, index) => (text.includes(value) ? [index] : []));
}

/** A leak as it is reported: where, and which lines of the minted-values file, never the value itself. */
export function describeLeak(where: string, positions: number[]): string {
  return `${where} (minted value${positions.length > 1 ? 's' : ''} on line ${positions.map((p) => p + 1).join(', ')})`;
}

/** The minted values, one a line, as the simulators recorded them. */
export function readMintedValues(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/** Every file under `dir`, however deep, except those named in `skip`. */
export function filesUnder(dir: string, skip: string[] = []): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile() && !skip.includes(path));
}

export interface FileScanReport {
  files: number;
  leaks: string[];
}

/** Searches each file, read as text, for every value. */
export function scanFiles(files: string[], values: string[]): FileScanReport {
  const leaks = files.flatMap((file) => {
    const found = valuesFoundIn(readFileSync(file, 'utf8'), values);
    return found.length > 0 ? [describeLeak(file, found)] : [];
  });
  return { files: files.length, leaks };
}
