/**
 * Installs the system programs a dev command needs when it can (root on
 * Debian, with apt-get), and otherwise says in one line what to install.
 */
import { execFileSync, spawnSync } from 'node:child_process';

/** A program, how to find it, and the Debian package that provides it. */
export interface NeededProgram {
  readonly what: string;
  readonly found: () => boolean;
  readonly pkg: string;
}

/** True when `cmd` is on the PATH. */
export function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Installs whatever of `needed` is missing, or exits 1 naming it. */
export function ensurePrograms(needed: readonly NeededProgram[], forWhat: string): void {
  const missing = needed.filter((n) => !n.found());
  if (missing.length === 0) return;
  const pkgs = missing.map((m) => m.pkg);
  if (process.getuid?.() === 0 && onPath('apt-get')) {
    process.stdout.write(`installing what ${forWhat} needs from Debian: ${pkgs.join(' ')}\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
    return;
  }
  process.stderr.write(`${forWhat} needs ${missing.map((m) => m.what).join(', ')} (install with: sudo apt-get install ${pkgs.join(' ')})\n`);
  process.exit(1);
}
