/**
 * Faults a test can inject: the next `times` calls to a route answer `status` instead of being handled, or
 * something happens at GitHub right after a call was answered.
 */

export interface RouteCall {
  method: string;
  /** The route as GitHub's OpenAPI description names it, such as `/repos/{owner}/{repo}/actions/secrets/{secret_name}`. */
  route: string;
}

export interface Fault extends RouteCall {
  status: number;
  /** How many calls in a row fail; 1 by default. */
  times?: number;
  /** With 403 or 429: a secondary rate limit's `retry-after`, in seconds. */
  retryAfterSeconds?: number;
  /** GitHub's `message` instead of the status's own words (a long one, or one that echoes the request). */
  message?: string;
}

export class Faults {
  private pending: (Fault & { left: number })[] = [];
  private actions: (RouteCall & { action: () => void })[] = [];

  inject(fault: Fault): void {
    this.pending.push({ ...fault, left: fault.times ?? 1 });
  }

  /** Runs `action` once, just after the next call to the route is answered (say, to rotate a key). */
  afterNext(call: RouteCall, action: () => void): void {
    this.actions.push({ ...call, action });
  }

  clear(): void {
    this.pending = [];
    this.actions = [];
  }

  answered(call: RouteCall): void {
    const index = this.actions.findIndex((a) => a.method === call.method && a.route === call.route);
    if (index === -1) return;
    const [due] = this.actions.splice(index, 1);
    due?.action();
  }

  /** The fault this call meets, counted down; undefined when it goes through. */
  take(call: RouteCall): Fault | undefined {
    const fault = this.pending.find((f) => f.method === call.method && f.route === call.route && f.left > 0);
    if (fault !== undefined) fault.left -= 1;
    return fault;
  }
}
