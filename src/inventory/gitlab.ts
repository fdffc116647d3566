import { z } from 'zod';

/** GitLab addresses projects and groups by numeric id or by full path; both are accepted. */
function idOrPath(pattern: RegExp, expected: string) {
  return z.union([z.int({ error: expected }).positive(expected), z.string().regex(pattern, expected)], {
    error: expected,
  });
}

const NAME = '[A-Za-z0-9_.-]+';

export const gitlabProject = idOrPath(
  new RegExp(`^${NAME}(?:/${NAME})+$`),
  'expected a numeric project id or a full path such as "platform/deployer"',
).describe('GitLab project: numeric id or full path');

export const gitlabGroup = idOrPath(
  new RegExp(`^${NAME}(?:/${NAME})*$`),
  'expected a numeric group id or a full path such as "platform"',
).describe('GitLab group: numeric id or full path');
