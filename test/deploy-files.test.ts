import { existsSync, readFileSync } from 'node:fs';
import { DockerfileParser } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../harness/cli-process.js';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const exists = (path: string) => existsSync(new URL(path, root));

interface ComposeService {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  command?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  volumes?: string[];
  ports?: string[];
  profiles?: string[];
  container_name?: string;
  environment?: Record<string, string>;
  stop_grace_period?: string;
}

describe('docker-compose.yaml', () => {
  const compose = parse(read('docker-compose.yaml'), { merge: true }) as {
    services: Record<string, ComposeService>;
    volumes: Record<string, unknown>;
  };
  const services = compose.services;

  it('should reference only services, volumes and files that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      const deps = Array.isArray(service.depends_on)
        ? service.depends_on
        : Object.keys(service.depends_on ?? {});
      for (const dep of deps) expect(services, `${name} depends on ${dep}`).toHaveProperty(dep);
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.')) expect(exists(source), `${name} mounts ${source}`).toBe(true);
        else expect(compose.volumes, `${name} uses volume ${source}`).toHaveProperty(source);
      }
      if (service.build) {
        const context = typeof service.build === 'string' ? service.build : service.build.context;
        expect(exists(`${context}/Dockerfile`), `${name} builds ${context}`).toBe(true);
      }
    }
  });

  it('should run the single-replica stack and a worker service that can be scaled', () => {
    expect(services.app!.command).toEqual(['start']);
    expect(services.worker!.command).toEqual(['worker']);
    expect(services.app!.environment!.REDIS_URL).toBe('redis://redis:6379');
    expect(services.worker!.environment!.REDIS_URL).toBe('redis://redis:6379');
    // `--scale worker=3` needs no fixed name and no host port on the worker.
    expect(services.worker!.container_name).toBeUndefined();
    expect(services.worker!.ports).toBeUndefined();
    // Both share the uploads volume.
    expect(services.worker!.volumes).toContain('uploads:/data/uploads');
    expect(services.app!.volumes).toContain('uploads:/data/uploads');
    // The grace period covers the worker's drain.
    const grace = parseInt(services.worker!.stop_grace_period!, 10);
    expect(grace).toBeGreaterThan(Number(services.worker!.environment!.SHUTDOWN_TIMEOUT_SECONDS));
  });

  it('should put Prometheus and Grafana behind the monitoring profile, provisioned with our files', () => {
    expect(services.prometheus!.profiles).toEqual(['monitoring']);
    expect(services.grafana!.profiles).toEqual(['monitoring']);
    expect(services.prometheus!.volumes).toContain(
      './monitoring/alerts.yaml:/etc/prometheus/alerts.yaml:ro',
    );
    expect(services.grafana!.volumes).toContain('./dashboards:/var/lib/grafana/dashboards:ro');
    const prometheus = parse(read('compose/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    expect(prometheus.rule_files).toEqual(['/etc/prometheus/alerts.yaml']);
    const target = prometheus.scrape_configs[0]!.static_configs[0]!.targets[0]!;
    const [host, port] = target.split(':');
    expect(services).toHaveProperty(host!);
    expect(services[host!]!.environment!.METRICS_PORT).toBe(port);
  });

  it('should start every service command the CLI knows', async () => {
    for (const service of Object.values(services)) {
      if (service.image !== 'qscale:local') continue;
      const { code, stderr } = await runCli([...service.command!, '--help'], {});
      expect(code, stderr).toBe(0);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = DockerfileParser.parse(read('Dockerfile'));
  const froms = dockerfile.getFROMs();
  const instructions = dockerfile.getInstructions();
  const finalStageStart = froms[froms.length - 1]!.getRange().start.line;
  const finalStage = instructions.filter((i) => i.getRange().start.line >= finalStageStart);
  const args = (keyword: string) =>
    finalStage.filter((i) => i.getKeyword() === keyword).map((i) => i.getArgumentsContent() ?? '');

  it('should be multi-stage on node 20 slim', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from.getImage()).toBe('node:20-slim');
  });

  it('should ship production dependencies only', () => {
    const copies = finalStage
      .filter((i) => i.getKeyword() === 'COPY')
      .map((i) => {
        const from = (i as unknown as { getFlags(): { getName(): string; getValue(): string }[] })
          .getFlags()
          .find((flag) => flag.getName() === 'from');
        return `${from ? `--from=${from.getValue()} ` : ''}${i.getArgumentsContent()}`;
      });
    expect(copies).toContain('--from=deps /app/node_modules ./node_modules');
    expect(copies).toContain('--from=build /app/dist ./dist');
    const depsStage = instructions.filter(
      (i) => i.getKeyword() === 'RUN' && /npm ci/.test(i.getArgumentsContent() ?? ''),
    );
    const depsInstall = depsStage.map((i) => i.getArgumentsContent() ?? '');
    expect(depsInstall.some((c) => c.includes('--omit=dev'))).toBe(true);
    // The runtime stage installs no npm packages itself.
    expect(args('RUN').some((c) => /npm (ci|install)/.test(c))).toBe(false);
  });

  it('should run as a non-root user with tini as PID 1 forwarding signals', () => {
    const users = args('USER');
    expect(users).toHaveLength(1);
    expect(users[0]).not.toMatch(/^(0|root)(:|$)/);
    const entrypoint = args('ENTRYPOINT')[0]!;
    expect(JSON.parse(entrypoint)).toEqual([
      '/usr/bin/tini',
      '--',
      'node',
      '/app/dist/cli/main.js',
    ]);
    expect(args('RUN').join(' ')).toContain('tini');
    expect(JSON.parse(args('CMD')[0]!)).toEqual(['start']);
  });

  it('should keep the build context small', () => {
    const ignored = read('.dockerignore').split('\n');
    for (const entry of ['node_modules', 'dist', 'data', '.git']) expect(ignored).toContain(entry);
  });
});
