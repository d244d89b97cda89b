/**
 * The call's clock: counts from when the agent answers, shows the time (and, near the agent's
 * limit, the time left), warns screen readers 30 s before the limit and ends the call at it.
 */
import { t } from './words.js';

const WARN_S = 30;

export class CallTimer {
  /** `limitS`: the agent's max_call_s (none: no limit); `onLimit()` runs when it is reached. */
  constructor(ui, limitS, onLimit) {
    this.ui = ui;
    this.limitS = limitS;
    this.onLimit = onLimit;
    this.startedAt = 0; // performance.now() when the agent answered; 0 before
    this.ticker = 0;
    this.warned = false;
  }

  get running() {
    return Boolean(this.startedAt);
  }

  /** Starts counting, once the agent is in the call. */
  start() {
    this.startedAt = performance.now();
    this.tick();
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  /** Shows the time, warns once near the limit, ends the call at it. */
  tick() {
    const { limitS } = this;
    const elapsedS = Math.floor((performance.now() - this.startedAt) / 1000);
    this.ui.setTimer(elapsedS, limitS);
    if (limitS && !this.warned && limitS - elapsedS <= WARN_S && limitS > WARN_S) {
      this.warned = true;
      this.ui.announce(t('{seconds} seconds left in this call.', { seconds: limitS - elapsedS }));
    }
    if (limitS && elapsedS >= limitS) this.onLimit();
  }

  /** Stops the clock; returns the call's length in whole seconds, or null if it never started. */
  stop() {
    clearInterval(this.ticker);
    return this.startedAt ? Math.round((performance.now() - this.startedAt) / 1000) : null;
  }
}
