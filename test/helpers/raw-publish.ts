/**
 * Publishes over a raw TCP connection with a raw HPUB, as a hostile client
 * can: the server stores header names that the NATS clients refuse to parse.
 */
import { connect as tcpConnect } from 'node:net';

/** Publishes `payload` on `subject` with one raw header line (`Name: value`, or anything else). */
export async function rawPublish(port: number, subject: string, header: string, payload: string): Promise<void> {
  const h = Buffer.from(`NATS/1.0\r\n${header}\r\n\r\n`, 'utf8');
  const p = Buffer.from(payload, 'utf8');
  await new Promise<void>((resolve, reject) => {
    const s = tcpConnect(port, '127.0.0.1');
    let got = '';
    let sent = false;
    s.on('data', (d: Buffer) => {
      got += d.toString('utf8');
      if (!sent && got.includes('INFO')) {
        sent = true;
        s.write('CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n');
        s.write(`HPUB ${subject} ${h.length} ${h.length + p.length}\r\n`);
        s.write(Buffer.concat([h, p, Buffer.from('\r\nPING\r\n')]));
      }
      if (got.includes('-ERR')) reject(new Error(got));
      if (got.includes('PONG')) s.end(() => resolve());
    });
    s.on('error', reject);
  });
}

/** The port of a `nats://127.0.0.1:PORT` URL. */
export const portOf = (url: string): number => Number(new URL(url.replace(/^nats:/, 'http:')).port);
