/**
 * Readers for the deployment files (docker-compose.yml, infra/docker, infra/k8s) used by
 * deploy.test.ts: Compose variable interpolation, Kubernetes documents validated against the
 * schemas of kubernetes-models, and the mapping from a container command to the repository file
 * it runs. No Docker engine and no cluster: everything here reads files.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';

/** Repository root (this file is test/infra/deploy-files.ts). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function repoFile(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value` at a dotted path of an object, as unknown. */
export function at(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (isRecord(node) ? node[key] : undefined), value);
}

/** The objects of a list (anything else: empty). */
export function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

/** The string-valued entries of an object. */
export function stringRecord(value: unknown): Record<string, string> {
  return isRecord(value)
    ? Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'))
    : {};
}

/** Parses every document of a YAML file; throws naming the file on a syntax error. */
export function parseYamlFile(path: string): unknown[] {
  const docs = parseAllDocuments(repoFile(path), { merge: true });
  if (!Array.isArray(docs)) throw new Error(`${path}: not a YAML stream`);
  return docs.map((doc, index) => {
    const error = doc.errors[0];
    if (error !== undefined) throw new Error(`${path}: document ${index + 1}: ${error.message}`);
    return doc.toJS() as unknown;
  });
}

/**
 * Compose interpolation (compose-spec, "Interpolation"): `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `$VAR`, and `$$` for a literal `$`.
 * Records the variables that had no value and no default in `missing`.
 */
export function interpolate(
  text: string,
  env: Readonly<Record<string, string>>,
  missing: Set<string>,
): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match: string, braced?: string, operator?: string, operand?: string, bare?: string) => {
      if (match === '$$') return '$';
      const name = braced ?? bare ?? '';
      const value = env[name];
      const unsetOrEmpty = value === undefined || (operator?.startsWith(':') === true && value === '');
      if (!unsetOrEmpty) return value;
      if (operator === ':-' || operator === '-') return operand ?? '';
      missing.add(name);
      return '';
    },
  );
}

/** Applies `interpolate` to every string value of a parsed YAML tree (keys are left alone). */
export function interpolateTree(
  value: unknown,
  env: Readonly<Record<string, string>>,
  missing: Set<string>,
): unknown {
  if (typeof value === 'string') return interpolate(value, env, missing);
  if (Array.isArray(value)) return value.map((item) => interpolateTree(item, env, missing));
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateTree(item, env, missing)]),
    );
  }
  return value;
}

/** Workspace packages by name (`@cxr/results` -> `services/results`). */
export function workspacePackages(): Map<string, string> {
  const packages = new Map<string, string>();
  for (const parent of ['packages', 'services']) {
    for (const entry of readdirSync(join(ROOT, parent), { withFileTypes: true })) {
      const manifest = join(ROOT, parent, entry.name, 'package.json');
      if (!entry.isDirectory() || !existsSync(manifest)) continue;
      const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name: string };
      packages.set(name, `${parent}/${entry.name}`);
    }
  }
  return packages;
}

/**
 * Services with a long-running entry point (services/<svc>/src/main.ts, except the CLI), as the
 * compiled file a container runs: services/<svc>/dist/main.js.
 */
export function serviceEntryPoints(): string[] {
  return readdirSync(join(ROOT, 'services'))
    .filter((name) => name !== 'cli' && existsSync(join(ROOT, 'services', name, 'src', 'main.ts')))
    .map((name) => `services/${name}/dist/main.js`)
    .sort();
}

/** The TypeScript source a compiled entry point (services/<svc>/dist/main.js) is built from. */
export function sourceOfEntryPoint(entry: string): string {
  return entry.replace(/\/dist\/(.*)\.js$/, '/src/$1.ts');
}

/**
 * The repository file a container command runs. The images put the service packages at their
 * repository paths (/app/services/<svc> -> node_modules/@cxr/<svc>), so `node
 * services/results/dist/main.js` names the same file in the image and in a built repository.
 * Throws for any other shape: a TypeScript loader (tsx) or a source file, which production does
 * not run, included.
 */
export function entryPointOf(command: readonly string[], where: string): string {
  const [node, script, ...rest] = command;
  if (node !== 'node' || script === undefined || !/^services\/[a-z]+\/dist\/main\.js$/.test(script)) {
    throw new Error(
      `${where}: command must be \`node services/<svc>/dist/main.js\`, got ${JSON.stringify(command)}`,
    );
  }
  if (rest.some((arg) => arg.endsWith('.js') || arg.endsWith('.ts'))) {
    throw new Error(`${where}: one entry point per command`);
  }
  return script;
}

/** All CXR_* variable names that @cxr/config reads. */
export function configVariableNames(): Set<string> {
  return new Set(repoFile('packages/config/src/index.ts').match(/\bCXR_[A-Z0-9_]+\b/g) ?? []);
}

// --- Kubernetes --------------------------------------------------------------------------------

interface Validatable {
  validate(): void;
}

/** The models of every kind the manifests may use, keyed by `apiVersion/kind`. */
const MODELS: Readonly<Record<string, (data: Record<string, unknown>) => Validatable>> = {
  'v1/ConfigMap': (data) => new ConfigMap(data),
  'v1/Namespace': (data) => new Namespace(data),
  'v1/PersistentVolumeClaim': (data) => new PersistentVolumeClaim(data),
  'v1/Secret': (data) => new Secret(data),
  'v1/Service': (data) => new Service(data),
  'v1/ServiceAccount': (data) => new ServiceAccount(data),
  'apps/v1/Deployment': (data) => new Deployment(data),
  'policy/v1/PodDisruptionBudget': (data) => new PodDisruptionBudget(data),
  'keda.sh/v1alpha1/ScaledObject': (data) => new ScaledObject(data as never),
  'monitoring.coreos.com/v1/ServiceMonitor': (data) => new ServiceMonitor(data as never),
};

export const KNOWN_KINDS = Object.keys(MODELS);

/** One Kubernetes object as read from a manifest file. */
export interface K8sObject {
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly body: Record<string, unknown>;
}

/** Reads a manifest file: every document must be an object with apiVersion, kind and metadata.name. */
export function readManifests(path: string): K8sObject[] {
  return parseYamlFile(path).map((doc, index) => {
    if (!isRecord(doc)) throw new Error(`${path}: document ${index + 1} is not an object`);
    const { apiVersion, kind, metadata } = doc;
    const name = isRecord(metadata) ? metadata.name : undefined;
    if (typeof apiVersion !== 'string' || typeof kind !== 'string' || typeof name !== 'string') {
      throw new Error(`${path}: document ${index + 1} lacks apiVersion, kind or metadata.name`);
    }
    return { file: path, apiVersion, kind, name, body: doc };
  });
}

/** Validates an object against its kind's schema; throws with the file, kind, name and reason. */
export function validateManifest(object: K8sObject): void {
  const model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (model === undefined) {
    throw new Error(
      `${object.file}: ${object.apiVersion} ${object.kind} has no schema here (known: ${KNOWN_KINDS.join(', ')})`,
    );
  }
  try {
    model(object.body).validate();
  } catch (error) {
    throw new Error(`${object.file}: ${object.kind}/${object.name}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** A kustomization file, the fields the checks use. */
export interface Kustomization {
  readonly dir: string;
  readonly resources: readonly string[];
  readonly patches: readonly string[];
  readonly secretGenerator: readonly { name: string; behavior?: string; envs: readonly string[] }[];
  readonly images: readonly { name: string }[];
  readonly body: Record<string, unknown>;
}

function stringList(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw new Error(`${where}: expected a list of strings`);
  }
  return value;
}

export function readKustomization(dir: string): Kustomization {
  const path = join(dir, 'kustomization.yaml');
  const [body] = parseYamlFile(path);
  if (!isRecord(body) || body.kind !== 'Kustomization') throw new Error(`${path}: not a Kustomization`);
  const patches = (Array.isArray(body.patches) ? body.patches : []).map((patch: unknown) => {
    if (!isRecord(patch) || typeof patch.path !== 'string') throw new Error(`${path}: patches need a path`);
    return patch.path;
  });
  const secretGenerator = (Array.isArray(body.secretGenerator) ? body.secretGenerator : []).map(
    (generator: unknown) => {
      if (!isRecord(generator) || typeof generator.name !== 'string')
        throw new Error(`${path}: secretGenerator needs a name`);
      return {
        name: generator.name,
        ...(typeof generator.behavior === 'string' ? { behavior: generator.behavior } : {}),
        envs: stringList(generator.envs, `${path}: secretGenerator ${generator.name}`),
      };
    },
  );
  const images = (Array.isArray(body.images) ? body.images : []).map((image: unknown) => {
    if (!isRecord(image) || typeof image.name !== 'string') throw new Error(`${path}: images need a name`);
    return { name: image.name };
  });
  return {
    dir,
    resources: stringList(body.resources, `${path}: resources`),
    patches,
    secretGenerator,
    images,
    body,
  };
}

/** The objects a kustomization (and the bases it lists) declares, before patches. */
export function kustomizationObjects(dir: string): K8sObject[] {
  const kustomization = readKustomization(dir);
  return kustomization.resources.flatMap((resource) => {
    const path = join(dir, resource);
    if (existsSync(join(ROOT, path, 'kustomization.yaml'))) return kustomizationObjects(path);
    return readManifests(path);
  });
}
