import { z } from 'zod';

/** A GitHub repository as its API names it. */
export const githubRepository = z.string().regex(/^[A-Za-z0-9-]+\/[A-Za-z0-9_.-]+$/, 'expected "owner/repo"');
