import { describe, expect, it } from 'vitest';
import { lineChartSvg, niceStep } from '../lab/scaling/svg-chart.js';

describe('lab SVG line chart', () => {
  it('should pick 1-2-5 steps', () => {
    expect(niceStep(10)).toBe(2);
    expect(niceStep(47)).toBe(10);
    expect(niceStep(0.3)).toBe(0.1);
    expect(niceStep(0)).toBe(1);
  });

  it('should draw one step path and one legend entry per series, escaping names', () => {
    const svg = lineChartSvg(
      [
        {
          name: 'keda <redis>',
          points: [
            [0, 0],
            [10, 4],
            [20, 2],
          ],
        },
        {
          name: 'qscale workers',
          points: [
            [0, 1],
            [30, 1],
          ],
        },
      ],
      { title: 'Replicas — burst', yLabel: 'replicas' },
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('keda &lt;redis&gt;');
    expect(svg).toContain('Replicas — burst');
    // Steps: H then V segments, ending at the last point's value.
    const first = /<path d="([^"]+)"/.exec(svg)![1]!;
    expect(first).toMatch(/^M[\d.]+,[\d.]+ H[\d.]+ V[\d.]+ H[\d.]+ V[\d.]+$/);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });
});
