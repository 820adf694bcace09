import { execFileSync } from 'node:child_process';

/** The path of a binary on the PATH, or undefined (checks that need Debian's tools skip without them). */
export function which(bin: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
