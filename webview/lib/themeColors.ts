/** Theme colours as RGB, read from VS Code's CSS variables, and ramps between them for canvas pixels. */

export type Rgb = [number, number, number];

/** The computed value of a CSS colour expression (e.g. `var(--vscode-charts-blue)`) as RGB. */
export function themeColor(expression: string, fallback: Rgb = [128, 128, 128]): Rgb {
  const probe = document.createElement('span');
  probe.style.color = expression;
  probe.style.display = 'none';
  document.body.append(probe);
  const text = getComputedStyle(probe).color;
  probe.remove();
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : fallback;
}

/** Piecewise-linear interpolation through `stops` for t in [0, 1]. */
export function ramp(stops: readonly Rgb[], t: number): Rgb {
  const clamped = Math.min(1, Math.max(0, t));
  const scaled = clamped * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(scaled));
  const f = scaled - i;
  const [a, b] = [stops[i]!, stops[i + 1]!];
  return [0, 1, 2].map((k) => Math.round(a[k]! + (b[k]! - a[k]!) * f)) as Rgb;
}
