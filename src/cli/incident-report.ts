import type { Command } from 'commander';
import { IncidentUnanswered, incidentText, incidentWorkflowId, readIncident } from '../incidents/report';
import { CliContext, CliError, EXIT, isNotFound, withJson } from './context';

/** `rotator incident report <credential-or-workflow-id>`: a break-glass rotation's incident record. */
export function registerIncidentReport(incident: Command, cli: CliContext): void {
  withJson(
    incident
      .command('report')
      .summary("a break-glass rotation's incident record: its timeline and seconds to revocation")
      .description(
        'the timeline of the latest break-glass rotation of a credential (or of the workflow named): alert ' +
          'received, credential matched, leaked token revoked, new token live in every target, dependents ' +
          'resumed, reviewed by; and the seconds from the alert to the revocation',
      )
      .argument('<id>', 'credential id, or a break-glass workflow id (break-glass/<credential>)'),
  ).action(
    cli.action(async (id: string, options: { json?: boolean }) => {
      const client = await cli.client();
      const workflowId = incidentWorkflowId(id);
      const report = await readIncident(client, id).catch((error: unknown) => {
        if (isNotFound(error))
          throw new CliError(`no break-glass rotation ${workflowId} was found`, EXIT.usage);
        if (error instanceof IncidentUnanswered)
          throw new CliError(
            `${error.message}: is a worker polling ${cli.config.temporal.taskQueue}?`,
            EXIT.unavailable,
          );
        throw error;
      });
      if (report === undefined) throw new CliError(`${workflowId} holds no incident record`, EXIT.usage);
      const url = cli.workflowUrl(report.workflowId, report.runId);
      if (options.json === true) cli.json({ ...report, url });
      else cli.io.stdout(incidentText(report, url));
      return EXIT.ok;
    }),
  );
}
