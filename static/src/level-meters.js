/**
 * Audio level meters: one AudioContext per call, one animation loop, and on each meter element
 * a CSS custom property `--level` (0…1) plus `data-active` while there is sound.
 */

const ACTIVE_LEVEL = 0.12;
const reducedMotion = matchMedia('(prefers-reduced-motion: reduce)');

export class LevelMeters {
  /**
   * Create inside the click handler, so the AudioContext is allowed to run. It waits suspended
   * until a meter needs it: running, its audio thread competed with the connection being made
   * (bench/README.md, "floor").
   */
  constructor() {
    const AudioContextClass = window.AudioContext || window.webkitAudioContext;
    this.context = AudioContextClass ? new AudioContextClass() : null;
    this.context?.resume().catch(() => {}); // within the gesture: Safari lets it run from now on
    this.context?.suspend().catch(() => {});
    this.meters = new Map();
    this.frame = 0;
    this.lastPaint = 0;
    // Bound here, not as a class field: a field would need esbuild's helper, in a chunk of its own.
    this.tick = this.tick.bind(this);
  }

  /** Runs the context once a meter needs it; call on a gesture too (a start without one left it suspended). */
  resume() {
    if (this.meters.size && this.context?.state === 'suspended') this.context.resume().catch(() => {});
  }

  /** Starts metering `mediaStreamTrack` into `element`, replacing what it showed before. */
  watch(element, mediaStreamTrack) {
    if (!this.context || this.context.state === 'closed' || !mediaStreamTrack) return;
    this.unwatch(element);
    const source = this.context.createMediaStreamSource(new MediaStream([mediaStreamTrack]));
    const analyser = this.context.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    this.meters.set(element, {
      source,
      analyser,
      samples: new Float32Array(analyser.fftSize),
      level: 0,
    });
    this.resume();
    if (!this.frame) this.frame = requestAnimationFrame(this.tick);
  }

  unwatch(element) {
    const meter = this.meters.get(element);
    if (!meter) return;
    meter.source.disconnect();
    this.meters.delete(element);
    paint(element, 0);
  }

  /** Releases everything; the meters fall back to silence. */
  stop() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    [...this.meters.keys()].forEach((element) => this.unwatch(element));
    this.context?.close().catch(() => {});
  }

  /** One animation frame: every meter painted from its analyser. */
  tick(now) {
    this.frame = this.meters.size ? requestAnimationFrame(this.tick) : 0;
    // With reduced motion the meters only switch between quiet and sound, four times a second.
    const calm = reducedMotion.matches;
    if (calm && now - this.lastPaint < 250) return;
    this.lastPaint = now;
    this.meters.forEach((meter, element) => {
      const level = levelOf(meter);
      // Fast attack, slow release: reads as a voice, not as flicker.
      meter.level = Math.max(level, meter.level * 0.85);
      paint(element, calm ? Number(meter.level >= ACTIVE_LEVEL) : meter.level);
    });
  }
}

/** RMS of the latest samples on a -60…-10 dBFS scale, as 0…1. */
function levelOf({ analyser, samples }) {
  analyser.getFloatTimeDomainData(samples);
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = Math.sqrt(sum / samples.length);
  const db = 20 * Math.log10(rms || 1e-9);
  return Math.min(1, Math.max(0, (db + 60) / 50));
}

function paint(element, level) {
  element.style.setProperty('--level', level.toFixed(2));
  element.toggleAttribute('data-active', level >= ACTIVE_LEVEL);
}
