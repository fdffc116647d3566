/** Faults a test can inject, each on the Nth call (1-based, counted from the simulator's start) to a route. */

export interface RouteCall {
  method: string;
  /** The route's pattern, such as `/projects/:id/access_tokens/:token_id/rotate`. */
  route: string;
}

export interface Failure extends RouteCall {
  n: number;
  status: number;
  retryAfterSeconds?: number;
  /**
   * What a proxy in front of GitLab answers instead of GitLab's own JSON: an HTML error page, or (after
   * commit) GitLab's answer cut short. `body` gets the JSON GitLab gave, if it gave one.
   */
  page?: { contentType: string; body: (answer: string) => string };
}

export class Faults {
  private failures: Failure[] = [];
  private drops: (RouteCall & { n: number })[] = [];
  private afterCommit: Failure[] = [];
  private delayMs = 0;
  private slowRoutes: (RouteCall & { ms: number })[] = [];

  /** Answers the Nth call with `status` instead of handling it (nothing changes at GitLab). */
  failNth(failure: Failure): void {
    this.failures.push(failure);
  }

  /** Handles the Nth call, commits its change, then destroys the socket: the caller never sees the answer. */
  dropAfterCommit(drop: RouteCall & { n: number }): void {
    this.drops.push(drop);
  }

  /**
   * Handles the Nth call and commits its change, then answers `status` anyway (with `page`, if given), as a
   * failing proxy would: a 5xx, or a 200 whose body does not parse.
   */
  failAfterCommit(failure: Failure): void {
    this.afterCommit.push(failure);
  }

  /** Delays every answer by `ms`. */
  latency(ms: number): void {
    this.delayMs = ms;
  }

  /** Handles every call to a route `ms` after it arrives (and is counted): a slow target, caught mid-write. */
  slow(route: RouteCall & { ms: number }): void {
    this.slowRoutes.push(route);
  }

  clear(): void {
    this.failures = [];
    this.drops = [];
    this.afterCommit = [];
    this.delayMs = 0;
    this.slowRoutes = [];
  }

  get delay(): number {
    return this.delayMs;
  }

  /** How long a call to this route waits before it is handled, as `slow` set it. */
  slowness(call: RouteCall): number {
    return this.slowRoutes.find((r) => r.method === call.method && r.route === call.route)?.ms ?? 0;
  }

  failureFor(call: RouteCall, n: number): Failure | undefined {
    return matching(this.failures, call, n);
  }

  failureAfterCommit(call: RouteCall, n: number): Failure | undefined {
    return matching(this.afterCommit, call, n);
  }

  dropsAt(call: RouteCall, n: number): boolean {
    return matching(this.drops, call, n) !== undefined;
  }
}

function matching<F extends RouteCall & { n: number }>(
  faults: F[],
  call: RouteCall,
  n: number,
): F | undefined {
  return faults.find((f) => f.method === call.method && f.route === call.route && f.n === n);
}
