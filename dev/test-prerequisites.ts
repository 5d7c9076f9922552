/**
 * Makes `npm test` self-sufficient on a fresh Debian machine: the tests need a
 * few system programs (nats-server, ffmpeg, chromium, docker-compose; Ceph is
 * installed by dev/local/ceph-rgw.ts when it starts). As root with apt-get,
 * missing ones are installed; otherwise one line says what to install.
 */
import { existsSync } from 'node:fs';
import { ensurePrograms, onPath, type NeededProgram } from './system-programs.js';

/** A program the tests run, how to find it, and the Debian package that provides it. */
const NEEDED: readonly NeededProgram[] = [
  { what: 'nats-server', found: () => onPath('nats-server') || existsSync('/usr/sbin/nats-server'), pkg: 'nats-server' },
  { what: 'ffmpeg (packages real HLS for the crawler tests)', found: () => onPath('ffmpeg'), pkg: 'ffmpeg' },
  { what: 'chromium (the dashboard tests)', found: () => existsSync('/usr/bin/chromium'), pkg: 'chromium' },
  { what: 'docker-compose (checks docker-compose.yml; no engine needed)', found: () => onPath('docker-compose'), pkg: 'docker-compose' },
];

ensurePrograms(NEEDED, 'flants tests');
