import { positiveDuration } from '../inventory/durations';

/** What every canary entry carries beside its own fields: how long its run may take, and how often it is read. */
export const canaryTiming = {
  timeout: positiveDuration
    .prefault('15m')
    .describe('how long the run may take before the rotation rolls back as if it had failed'),
  poll: positiveDuration.prefault('10s').describe("how often the run's state is read"),
};

/** Plain settings passed to the run: names and values from the inventory, never a secret. */
export const runSettingName = /^[A-Za-z_][A-Za-z0-9_]*$/;
