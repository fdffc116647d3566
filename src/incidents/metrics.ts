/** The Prometheus histogram of seconds from a leak's alert to its token revoked (docs/deployment.md, "Metrics"). */
export const SECONDS_TO_REVOCATION = 'rotator_break_glass_seconds_to_revocation';
/** Seconds: within a few seconds when all goes well, up to the hour a preempted rollback may take. */
export const SECONDS_TO_REVOCATION_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600];
