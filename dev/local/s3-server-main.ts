/**
 * Runs one s3rver in its own process, so that a benchmark gives each endpoint
 * its own event loop and can read its CPU from /proc. Prints its port as one
 * JSON line on stdout. Usage: node s3-server-main.js <bucket>...
 */
import { startS3Server } from './s3-server.js';

const server = await startS3Server(process.argv.slice(2));
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
const stop = () => void server.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
