import { describe, expect, it } from 'vitest';
import {
  allPanels,
  dashboardFiles,
  loadDashboard,
  readRepoFile,
  SUM_OVER_REPLICAS,
  type GrafanaPanel,
} from '../harness/monitoring-files.js';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** Whether two grid rectangles share any cell. */
function overlap(a: GrafanaPanel['gridPos'], b: GrafanaPanel['gridPos']): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

describe('Grafana dashboards', () => {
  const files = dashboardFiles();

  it('should include dashboards/qscale.json', () => {
    expect(files).toContain('dashboards/qscale.json');
  });

  describe.each(files)('%s', (file) => {
    it('should be valid JSON with a uid, a title and schemaVersion 38 or later', () => {
      expect(() => JSON.parse(readRepoFile(file)) as unknown).not.toThrow();
      const dashboard = loadDashboard(file);
      expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
      expect(dashboard.title).toMatch(/\S/);
      expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(38);
    });

    it('should have the datasource and queue template variables', () => {
      const variables = loadDashboard(file).templating.list;
      expect(variables.find((v) => v.name === 'datasource')).toMatchObject({
        type: 'datasource',
        query: 'prometheus',
      });
      const queue = variables.find((v) => v.name === 'queue');
      expect(queue).toMatchObject({
        type: 'query',
        datasource: DATASOURCE,
        multi: true,
        includeAll: true,
      });
      const query = typeof queue?.query === 'string' ? queue.query : queue?.query?.query;
      expect(query).toBe('label_values(qscale_queue_length, queue)');
    });

    it('should give every panel a unique id', () => {
      const ids = allPanels(loadDashboard(file)).map((panel) => panel.id);
      expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('should lay panels out on the 24-column grid without overlaps', () => {
      const panels = loadDashboard(file).panels;
      for (const { title, gridPos: g } of panels) {
        expect(g.x >= 0 && g.y >= 0 && g.w > 0 && g.h > 0, title).toBe(true);
        expect(g.x + g.w, title).toBeLessThanOrEqual(24);
      }
      for (const [i, a] of panels.entries()) {
        for (const b of panels.slice(i + 1)) {
          expect(overlap(a.gridPos, b.gridPos), `${a.title} overlaps ${b.title}`).toBe(false);
        }
      }
    });

    it('should read every panel and every target from the ${datasource} variable', () => {
      for (const panel of allPanels(loadDashboard(file))) {
        if (panel.type === 'row' && !panel.targets) continue;
        expect(panel.datasource, panel.title).toEqual(DATASOURCE);
        expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
        for (const target of panel.targets ?? []) {
          expect(target.datasource, `${panel.title} ${target.refId}`).toEqual(DATASOURCE);
          expect(target.expr, `${panel.title} ${target.refId}`).toMatch(/\S/);
        }
      }
    });

    it('should select the $queue queues and count exporter replicas once', () => {
      for (const panel of allPanels(loadDashboard(file))) {
        for (const target of panel.targets ?? []) {
          const expr = target.expr ?? '';
          const where = `${panel.title} ${target.refId}: ${expr}`;
          // Every queue-level series has a `queue=~"$queue"` matcher…
          for (const match of expr.matchAll(/\bqscale_(?!redis_up|scrape_)\w+(\{[^}]*\})?/g)) {
            expect(match[1] ?? '', where).toContain('queue=~"$queue"');
          }
          // …and is de-duplicated across exporter replicas with max before any sum.
          expect(expr, where).not.toMatch(SUM_OVER_REPLICAS);
        }
      }
    });
  });

  it('should chart every metric an operator needs from qscale.json', () => {
    const exprs = allPanels(loadDashboard('dashboards/qscale.json'))
      .flatMap((panel) => panel.targets ?? [])
      .map((target) => target.expr ?? '')
      .join('\n');
    for (const metric of [
      'qscale_queue_jobs',
      'qscale_queue_length',
      'qscale_queue_oldest_job_age_seconds',
      'qscale_jobs_processed_total',
      'qscale_jobs_enqueued_total',
      'qscale_job_processing_seconds_bucket',
      'qscale_job_wait_seconds_bucket',
      'qscale_workers',
      'qscale_queue_desired_workers',
      'qscale_queue_utilization_ratio',
      'qscale_worker_utilization_ratio',
      'qscale_worker_busy_slots',
      'qscale_worker_concurrency',
      'qscale_redis_up',
      'qscale_scrape_duration_seconds',
      'qscale_scrape_errors_total',
    ]) {
      expect(exprs).toMatch(new RegExp(`\\b${metric}\\b`));
    }
  });
});
