/** The outcome policy's settings, as configuration sets them: one place, for every actor. */
import type { PolicySettings } from './outcome-policy.js';

/** Reads the policy's settings from configuration. */
export function policyOf(config: {
  maxAttempts: number;
  retryBackoffMs: readonly number[];
  throttle: { maxRounds: number; maxMs: number };
}): PolicySettings {
  return {
    maxAttempts: config.maxAttempts,
    backoffMs: config.retryBackoffMs,
    throttleMaxRounds: config.throttle.maxRounds,
    throttleMaxMs: config.throttle.maxMs,
  };
}
