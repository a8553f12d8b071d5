// Background-tab alerts: a chime, a count in the tab title and a desktop notification with the
// visitor's message per new visitor message while the console tab is hidden. They reset when
// the agent comes back to the tab.

export class Notifier {
  constructor() {
    this.baseTitle = document.title;
    this.count = 0;
    this.audio = null;
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.reset();
    });
    // Browsers let a page make sound only after a user gesture: the first click or key starts it.
    const unlock = () => {
      if (!this.audio && window.AudioContext) this.audio = new AudioContext();
      if (this.audio && this.audio.state === 'suspended') this.audio.resume().catch(() => {});
    };
    document.addEventListener('pointerdown', unlock);
    document.addEventListener('keydown', unlock);
  }

  get supported() { return 'Notification' in window; }
  get permission() { return this.supported ? Notification.permission : 'denied'; }

  /** Must run from a user gesture (a click), or browsers ignore it. */
  async requestPermission() {
    if (this.supported && Notification.permission === 'default') await Notification.requestPermission();
    return this.permission;
  }

  /** A new message arrived; alerts only when the tab is in the background. */
  alert({ title, body, tag, onClick }) {
    if (document.visibilityState === 'visible') return;
    this.count += 1;
    document.title = `(${this.count}) ${this.baseTitle}`;
    this.chime();
    if (this.permission !== 'granted') return;
    const n = new Notification(title, { body, tag });
    n.addEventListener('click', () => { window.focus(); n.close(); if (onClick) onClick(); });
  }

  /** Two short rising notes, made on the spot: no audio file to load. */
  chime() {
    const ac = this.audio;
    if (!ac) return;
    [660, 880].forEach((hz, i) => {
      const osc = ac.createOscillator();
      const gain = ac.createGain();
      const at = ac.currentTime + i * 0.12;
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.12, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + 0.25);
      osc.connect(gain).connect(ac.destination);
      osc.start(at);
      osc.stop(at + 0.25);
    });
  }

  reset() {
    this.count = 0;
    document.title = this.baseTitle;
  }
}
