/**
 * Makes `npm test` self-sufficient on a fresh Debian machine: the tests need a
 * few system programs (nats-server, ffmpeg, chromium, docker-compose; Ceph is
 * installed by dev/local/ceph-rgw.ts when it starts). As root with apt-get,
 * missing ones are installed; otherwise one line says what to install.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A program the tests run, how to find it, and the Debian package that provides it. */
const NEEDED: ReadonlyArray<{ readonly what: string; readonly found: () => boolean; readonly pkg: string }> = [
  { what: 'nats-server', found: () => onPath('nats-server') || existsSync('/usr/sbin/nats-server'), pkg: 'nats-server' },
  { what: 'ffmpeg (packages real HLS for the crawler tests)', found: () => onPath('ffmpeg'), pkg: 'ffmpeg' },
  { what: 'chromium (the dashboard tests)', found: () => existsSync('/usr/bin/chromium'), pkg: 'chromium' },
  { what: 'docker-compose (checks docker-compose.yml; no engine needed)', found: () => onPath('docker-compose'), pkg: 'docker-compose' },
];

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const missing = NEEDED.filter((n) => !n.found());
if (missing.length > 0) {
  const pkgs = missing.map((m) => m.pkg);
  const root = process.getuid?.() === 0;
  if (root && onPath('apt-get')) {
    process.stdout.write(`installing what the tests need from Debian: ${pkgs.join(' ')}\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
  } else {
    process.stderr.write(`flants tests need ${missing.map((m) => m.what).join(', ')} (install with: sudo apt-get install ${pkgs.join(' ')})\n`);
    process.exit(1);
  }
}
