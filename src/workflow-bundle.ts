import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';

/** The workflows, and the interceptor modules bundled with them. */
export const WORKFLOWS_PATH = require.resolve('../workflows');
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('./workflow-metrics')];

/**
 * The prebuilt bundle `npm run build` writes beside the compiled code (dist/workflow-bundle.js). From the
 * TypeScript sources (tests, ts-node) this path does not exist, and the worker bundles at start instead.
 */
export const WORKFLOW_BUNDLE_PATH = join(__dirname, '../workflow-bundle.js');

/** Bundles the compiled workflows once, so that a production worker starts without webpack. */
export async function writeWorkflowBundle(path = WORKFLOW_BUNDLE_PATH): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    // webpack's module list is noise in a build log; its warnings and errors still show.
    logger: new DefaultLogger('WARN'),
  });
  await writeFile(path, code);
}

if (require.main === module) {
  writeWorkflowBundle().then(
    () => console.log(`workflow bundle: ${WORKFLOW_BUNDLE_PATH}`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
