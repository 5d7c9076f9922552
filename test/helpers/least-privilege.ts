/**
 * flants under the sample least-privilege configuration: the admin sets the
 * topology up (as `flants setup` does), then each actor runs in its own
 * daemon as its own user.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { startDaemon, type Daemon } from '../../cli/daemon.js';
import type { FlantsConfig } from '../../config/load-config.js';
import { ensureTopology, openClassStateKv, openFleetKv, topologyOptions } from '../../streams/ensure-topology.js';
import type { Topology } from '../../streams/topology.js';
import { natsPasswords } from './nats-passwords.js';
import { testLogger } from './services.js';

/** Sets up with the admin's connection `nc`, then starts the four actors, each as its user; adds them to `daemons`. */
export async function startAsActorUsers(nc: NatsConnection, t: Topology, configFor: (user: string, password: string) => FlantsConfig, daemons: Daemon[]): Promise<void> {
  await ensureTopology(await jetstreamManager(nc), t, topologyOptions(configFor('admin', natsPasswords.FLANTS_ADMIN_PASSWORD)));
  await openClassStateKv(nc, t);
  await openFleetKv(nc, t);
  for (const actor of ['aggregator', 'dispatcher', 'crawler', 'scanner'] as const) {
    const password = natsPasswords[`FLANTS_${actor.toUpperCase()}_PASSWORD` as keyof typeof natsPasswords];
    daemons.push(await startDaemon({ config: configFor(actor, password), logger: testLogger(), actors: [actor] }));
  }
}
