import type { Credential } from '../inventory/schema';
import type { Logger } from '../logging';
import type { Stores } from '../stores';
import { matchFingerprint, type Match } from './match';
import { breakGlassRequestSchema, type BreakGlassRequest } from './request';

/**
 * Starts the break-glass rotation a request asks for; `alreadyRunning` when one for that credential runs
 * already (a redelivered alert). The break-glass workflow's own module provides it; intake takes it from
 * its caller.
 */
export type StartBreakGlass = (
  request: BreakGlassRequest,
) => Promise<{ workflowId: string; alreadyRunning: boolean }>;

/** What every intake (the webhooks, `rotator incident --stdin`) works with. */
export interface Intake {
  /** The inventory's credentials as they are now. */
  credentials: () => readonly Credential[] | Promise<readonly Credential[]>;
  stores: Stores;
  start: StartBreakGlass;
  logger: Logger;
  now?: () => Date;
}

/** A leak as an intake reports it: the token's fingerprint (the token itself is already forgotten). */
export interface Leak {
  fingerprint: string;
  alert: Omit<BreakGlassRequest['alert'], 'receivedAt'>;
  requestedBy: string;
  /** A credential id the reporter names: read first. */
  hint?: string;
}

export type IntakeOutcome =
  | ({ result: 'started'; workflowId: string; alreadyRunning: boolean } & Match)
  | { result: 'not managed here' };

/** Where the alert came from, for the log: never the token nor its fingerprint. */
const alertFields = ({ alert }: Leak) => ({
  source: alert.source,
  alertId: alert.id,
  ...(alert.url === undefined ? {} : { url: alert.url }),
  ...(alert.reportedBy === undefined ? {} : { reportedBy: alert.reportedBy }),
});

/**
 * Matches a leaked token's fingerprint to a managed credential and starts its break-glass rotation; a
 * fingerprint no credential holds is logged as "not managed here", with the alert's URL, and starts nothing.
 */
export async function takeIn(leak: Leak, intake: Intake): Promise<IntakeOutcome> {
  const receivedAt = (intake.now ?? (() => new Date()))().toISOString();
  const match = await matchFingerprint(
    leak.fingerprint,
    await intake.credentials(),
    intake.stores,
    leak.hint,
  );
  if (match === undefined) {
    intake.logger.warn(
      alertFields(leak),
      `not managed here: no credential of the inventory holds the leaked token, current or previous` +
        `${leak.alert.url === undefined ? '' : ` (alert ${leak.alert.url})`}: revoke it where it was issued`,
    );
    return { result: 'not managed here' };
  }
  const { credentialId, ...leaked } = match;
  const request = breakGlassRequestSchema.parse({
    credentialId,
    leaked: { fingerprint: leak.fingerprint, ...leaked },
    alert: { ...leak.alert, receivedAt },
    requestedBy: leak.requestedBy,
  });
  const started = await intake.start(request);
  intake.logger.warn(
    {
      ...alertFields(leak),
      ...match,
      workflowId: started.workflowId,
      alreadyRunning: started.alreadyRunning,
    },
    `leaked token of ${credentialId} (${match.version} version, field ${match.field}): ` +
      (started.alreadyRunning
        ? `its break-glass rotation ${started.workflowId} runs already`
        : `break-glass rotation ${started.workflowId} started`),
  );
  return { result: 'started', ...started, ...match };
}
