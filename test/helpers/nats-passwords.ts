/**
 * The passwords of deploy/nats/flants.conf's users in tests. nats-server reads
 * them from its environment, so every user's must be set before it starts.
 */
export const natsPasswords = {
  FLANTS_ADMIN_PASSWORD: 'admin-pw-0123456789',
  FLANTS_SCANNER_PASSWORD: 'scanner-pw-0123456789',
  FLANTS_CRAWLER_PASSWORD: 'crawler-pw-0123456789',
  FLANTS_DISPATCHER_PASSWORD: 'dispatcher-pw-0123456789',
  FLANTS_AGGREGATOR_PASSWORD: 'aggregator-pw-0123456789',
};

