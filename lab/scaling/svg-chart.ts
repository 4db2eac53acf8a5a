/**
 * A line chart as a standalone SVG document: several series over one time axis, overlaid, with
 * axes, ticks and a legend, for the scaling lab's report (a person opens it in a browser or an
 * image viewer). No dependencies; values are drawn as step lines, since replicas and backlog
 * change in steps.
 */

export interface ChartSeries {
  name: string;
  /** `[seconds since start, value]`, in time order. */
  points: readonly (readonly [number, number])[];
}

export interface ChartOptions {
  title: string;
  yLabel: string;
  /** @defaultValue 'seconds' */
  xLabel?: string;
  /** @defaultValue 900 */
  width?: number;
  /** @defaultValue 360 */
  height?: number;
}

const COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** 1, 2 or 5 × a power of ten: about `count` ticks from 0 to `max`. */
export function niceStep(max: number, count = 5): number {
  if (!(max > 0)) return 1;
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const scaled = raw / power;
  const nice = scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10;
  return nice * power;
}

const label = (value: number) =>
  Number.isInteger(value) ? String(value) : value.toFixed(value < 1 ? 2 : 1);

/** The chart as an SVG document. */
export function lineChartSvg(series: readonly ChartSeries[], options: ChartOptions): string {
  const width = options.width ?? 900;
  const height = options.height ?? 360;
  const legendWidth = 190;
  const margin = { top: 36, right: legendWidth + 16, bottom: 44, left: 56 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = series.flatMap((s) => s.points);
  const maxX = Math.max(1, ...all.map(([x]) => x));
  const maxY = Math.max(1, ...all.map(([, y]) => y));
  const stepX = niceStep(maxX);
  const stepY = niceStep(maxY);
  const topX = Math.ceil(maxX / stepX) * stepX;
  const topY = Math.ceil(maxY / stepY) * stepY;
  const x = (v: number) => margin.left + (v / topX) * plotW;
  const y = (v: number) => margin.top + plotH - (v / topY) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${margin.left}" y="20" font-size="14" font-weight="bold">${escape(options.title)}</text>`,
  ];
  for (let v = 0; v <= topY + 1e-9; v += stepY) {
    parts.push(
      `<line x1="${margin.left}" y1="${y(v)}" x2="${margin.left + plotW}" y2="${y(v)}" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${label(v)}</text>`,
    );
  }
  for (let v = 0; v <= topX + 1e-9; v += stepX) {
    parts.push(
      `<line x1="${x(v)}" y1="${margin.top + plotH}" x2="${x(v)}" y2="${margin.top + plotH + 4}" stroke="#555"/>`,
      `<text x="${x(v)}" y="${margin.top + plotH + 18}" text-anchor="middle" fill="#555">${label(v)}</text>`,
    );
  }
  parts.push(
    `<line x1="${margin.left}" y1="${margin.top + plotH}" x2="${margin.left + plotW}" y2="${margin.top + plotH}" stroke="#555"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotH}" stroke="#555"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 8}" text-anchor="middle" fill="#333">${escape(options.xLabel ?? 'seconds')}</text>`,
    `<text transform="translate(14 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${escape(options.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    if (s.points.length > 0) {
      // A step line: hold each value until the next point.
      let d = `M${x(s.points[0]![0]).toFixed(1)},${y(s.points[0]![1]).toFixed(1)}`;
      for (let k = 1; k < s.points.length; k++) {
        const [px, py] = s.points[k]!;
        d += ` H${x(px).toFixed(1)} V${y(py).toFixed(1)}`;
      }
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    }
    const ly = margin.top + 8 + i * 18;
    const lx = width - legendWidth;
    parts.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${lx + 24}" y="${ly + 4}">${escape(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}
