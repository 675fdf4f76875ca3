/** Automatic logoff: `onIdle` runs once after `minutes` without a key, pointer, scroll or touch. */
const ACTIVITY = ["keydown", "pointerdown", "pointermove", "wheel", "touchstart", "scroll"] as const;

export function startIdleTimer(minutes: number, onIdle: () => void, target: EventTarget = window): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let done = false;
  const fire = () => {
    done = true;
    stop();
    onIdle();
  };
  const reset = () => {
    if (done) return;
    clearTimeout(timer);
    timer = setTimeout(fire, minutes * 60_000);
  };
  const stop = () => {
    clearTimeout(timer);
    for (const name of ACTIVITY) target.removeEventListener(name, reset);
  };
  for (const name of ACTIVITY) target.addEventListener(name, reset, { passive: true });
  reset();
  return stop;
}
