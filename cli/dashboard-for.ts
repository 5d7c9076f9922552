/**
 * Starts the dashboard next to the aggregator. A port already taken (another
 * aggregator replica on the same host) is a warning, not a failed daemon.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { FlantsConfig } from '../config/load-config.js';
import { startLiveState } from '../dashboard/live-state.js';
import { startDashboard } from '../dashboard/server.js';
import { destinationReports, runContextOf } from '../dashboard/run-context.js';
import { Kvm } from '@nats-io/kv';
import { auditsBucket } from '../audit/run-audit.js';
import type { Topology } from '../streams/topology.js';

/** Returns the running dashboard, or undefined when it could not bind. */
export async function startDashboardFor(o: {
  config: FlantsConfig;
  nc: NatsConnection;
  jsm: JetStreamManager;
  kv: KV;
  topology: Topology;
  logger: Logger;
}): Promise<{ url: string; close: () => Promise<void> } | undefined> {
  const logger = o.logger.child({ actor: 'dashboard' });
  // Audits keep their progress in their own bucket; a user not allowed to read it sees no audits.
  const auditsKv = await new Kvm(o.nc).create(auditsBucket(o.config.namespace), { history: 1, replicas: o.config.streamReplicas }).catch(() => undefined);
  const state = await startLiveState({ nc: o.nc, kv: o.kv, jsm: o.jsm, topology: o.topology, logger, auditsKv });
  try {
    const d = await startDashboard({ ...o.config.dashboard, state, logger, run: runContextOf(o.config), reports: destinationReports(o.config) });
    return {
      url: d.url,
      close: async () => {
        await d.close();
        await state.close();
      },
    };
  } catch (err) {
    logger.warn({ err, port: o.config.dashboard.port }, 'dashboard not started (port in use?); the daemon runs without it');
    await state.close();
    return undefined;
  }
}
