import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH, WORKFLOW_INTERCEPTOR_MODULES } from '../../src/workflow-bundle';

/** The packages bundled with the workflows, by the module paths webpack writes into the bundle. */
function bundledPackages(code: string): Set<string> {
  const packages = new Set<string>();
  for (const [, name] of code.matchAll(/node_modules\/((?:@[^/"*\s]+\/)?[^/"*\s]+)\//g))
    if (name !== undefined) packages.add(name);
  return packages;
}

describe('the workflow bundle', () => {
  // With a reused V8 context, every module of the bundle is instantiated again for each workflow the worker
  // keeps cached: zod and its schemas cost about 2.8 MB a workflow (a cache of 100: 280 MB of a worker's RSS).
  it('holds Temporal’s workflow packages and nothing heavier: no zod, no YAML parser, no provider client', async () => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    });
    const packages = bundledPackages(code);
    expect(packages).toContain('@temporalio/workflow');
    expect([...packages].filter((name) => !name.startsWith('@temporalio/')).sort()).toEqual(
      ['long', 'ms', 'nexus-rpc'].filter((name) => packages.has(name)),
    );
  }, 120_000);
});
