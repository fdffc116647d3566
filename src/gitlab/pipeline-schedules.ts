import { z } from 'zod';
import { ProviderError } from '../providers/errors';
import type { Dependent, PauseRecord } from '../providers/types';
import { parseAnswer, type GitLabClient } from './client';

// https://docs.gitlab.com/api/pipeline_schedules/

export interface PipelineSchedulesSpec {
  projectId: string | number;
}

const schedulesSchema = z.array(z.object({ id: z.number().int(), active: z.boolean() }));

/** A project's pipeline schedules: the active ones are switched off while a credential rotates. */
export class GitLabPipelineSchedules implements Dependent<PipelineSchedulesSpec> {
  constructor(private readonly client: GitLabClient) {}

  private setActive(spec: PipelineSchedulesSpec, scheduleId: number, active: boolean, step: string) {
    const site = {
      step,
      resource: `project ${spec.projectId} pipeline schedule ${scheduleId}`,
      mutates: true,
    };
    return this.client.call(site, (api) =>
      api.PipelineSchedules.edit(spec.projectId, scheduleId, { active }),
    );
  }

  /**
   * Deactivates every active schedule and records which. All or nothing: when one fails, those already
   * switched off are switched back on, so a retried pause never mistakes them for ones that were off.
   */
  async pause(spec: PipelineSchedulesSpec): Promise<PauseRecord> {
    const site = { step: 'pause', resource: `project ${spec.projectId} pipeline schedules` };
    const answer = await this.client.call(site, (api) => api.PipelineSchedules.all(spec.projectId));
    const active = parseAnswer(schedulesSchema, answer, site).filter((schedule) => schedule.active);
    const paused: number[] = [];
    try {
      for (const schedule of active) {
        await this.setActive(spec, schedule.id, false, 'pause');
        paused.push(schedule.id);
      }
    } catch (error) {
      await this.resume(spec, { paused }).catch(() => undefined);
      throw error;
    }
    return { paused };
  }

  /** Reactivates exactly the schedules `pause` switched off; one deleted meanwhile is skipped. */
  async resume(spec: PipelineSchedulesSpec, record: PauseRecord): Promise<void> {
    for (const scheduleId of record.paused) {
      try {
        await this.setActive(spec, scheduleId, true, 'resume');
      } catch (error) {
        if (!(error instanceof ProviderError && error.kind === 'not-found')) throw error;
      }
    }
  }
}
