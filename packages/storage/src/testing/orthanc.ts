/**
 * Test helper: a real PACS for the tests, Debian's Orthanc (with the DICOMweb plugin) on random
 * loopback ports with its storage in a temporary folder. It offers QIDO-RS, WADO-RS and STOW-RS
 * under `/dicom-web/`, DIMSE (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET) on `dicomPort` as AE
 * `aet`, and Orthanc's REST API (upload with POST /instances, /tools/find,
 * /modalities/{name}/store). It can be stopped, SIGKILLed and started again on the same ports
 * and storage, which is what the outage tests do. Started in about a second
 * (../shared/DEPENDENCY_NOTES.md: "PACS, DICOM networking and SR").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian installs Orthanc's DICOMweb plugin. */
export const ORTHANC_DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

/** A DICOM peer Orthanc knows by name (for C-MOVE destinations and REST C-STORE). */
export interface OrthancModality {
  readonly aet: string;
  readonly host: string;
  readonly port: number;
}

export interface OrthancOptions {
  /** Orthanc's own AE title (default `ORTHANC`). */
  readonly aet?: string;
  /** Peers by name, e.g. `{ cxr: { aet: 'CXR', host: '127.0.0.1', port: 11112 } }`. */
  readonly modalities?: Readonly<Record<string, OrthancModality>>;
  /** Extra configuration keys merged into Orthanc's JSON configuration. */
  readonly extraConfig?: Readonly<Record<string, unknown>>;
  readonly startTimeoutMs?: number;
  /**
   * Keep the configuration, storage and index in this folder (created if missing) instead of a
   * new temporary one, and leave it on `dispose`: a benchmark's 10,000-instance PACS survives
   * between runs.
   */
  readonly directory?: string;
}

export interface RunningOrthanc {
  /** `http://127.0.0.1:PORT`: Orthanc's REST API. */
  readonly httpUrl: string;
  /** `http://127.0.0.1:PORT/dicom-web`: the DICOMweb root (QIDO-RS, WADO-RS, STOW-RS). */
  readonly dicomwebUrl: string;
  readonly httpPort: number;
  readonly dicomPort: number;
  readonly aet: string;
  /** The folder holding the configuration, the storage and the index. */
  readonly directory: string;
  /** Whether the server process runs now. */
  readonly running: boolean;
  /** Uploads one DICOM instance (POST /instances); resolves with Orthanc's instance id. */
  upload(bytes: Uint8Array): Promise<string>;
  /** Instances stored (GET /instances). */
  instanceCount(): Promise<number>;
  /** SIGTERM and wait for the process (the storage stays). */
  stop(): Promise<void>;
  /** SIGKILL and wait for the process (the storage stays). */
  kill(): Promise<void>;
  /** Starts the server again on the same ports with the same storage. */
  restart(): Promise<void>;
  /** Stops the server and deletes its folder (unless it was given as `directory`). */
  dispose(): Promise<void>;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      resolve(false);
    }, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts Orthanc on fresh loopback ports with a new temporary folder; resolves once it answers. */
export async function startOrthanc(options: OrthancOptions = {}): Promise<RunningOrthanc> {
  const kept = options.directory;
  if (kept !== undefined) await mkdir(kept, { recursive: true });
  const directory = kept ?? (await mkdtemp(join(tmpdir(), 'cxr-orthanc-')));
  const httpPort = await freePort();
  const dicomPort = await freePort();
  const aet = options.aet ?? 'ORTHANC';
  const modalities = Object.fromEntries(
    Object.entries(options.modalities ?? {}).map(([name, m]) => [name, [m.aet, m.host, m.port]]),
  );
  const config = {
    Name: 'cxr-test-pacs',
    StorageDirectory: join(directory, 'storage'),
    IndexDirectory: join(directory, 'index'),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: aet,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    // Loopback peers only; any AE may store (C-STORE) to the test PACS.
    DicomCheckCalledAet: false,
    DicomAlwaysAllowStore: true,
    DicomAlwaysAllowEcho: true,
    DicomAlwaysAllowFind: true,
    DicomAlwaysAllowGet: true,
    DicomAlwaysAllowMove: true,
    DicomModalities: modalities,
    Plugins: [ORTHANC_DICOMWEB_PLUGIN],
    DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: true },
    // Keep what was sent, byte for byte (no transcoding on ingest).
    StorageCompression: false,
    ...options.extraConfig,
  };
  const configPath = join(directory, 'orthanc.json');
  await writeFile(configPath, JSON.stringify(config, null, 2));

  const httpUrl = `http://127.0.0.1:${httpPort}`;
  let child: ChildProcess | undefined;
  let log = '';
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const start = async (): Promise<void> => {
    log = '';
    const proc = spawn('Orthanc', [configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    for (const stream of [proc.stdout, proc.stderr]) {
      stream.on('data', (chunk: Buffer) => {
        log = (log + chunk.toString('utf8')).slice(-4000);
      });
    }
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`Orthanc exited with code ${proc.exitCode}: ${log}`);
      try {
        const response = await fetch(`${httpUrl}/system`);
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`Orthanc did not answer within the start timeout: ${log}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    if (!(await waitForExit(proc, 10_000))) {
      proc.kill('SIGKILL');
      await waitForExit(proc, 10_000);
    }
  };

  try {
    await start();
  } catch (error) {
    await end('SIGKILL');
    process.removeListener('exit', killOnExit);
    if (kept === undefined) await rm(directory, { recursive: true, force: true });
    throw error;
  }

  return {
    httpUrl,
    dicomwebUrl: `${httpUrl}/dicom-web`,
    httpPort,
    dicomPort,
    aet,
    directory,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async upload(bytes) {
      const response = await fetch(`${httpUrl}/instances`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/dicom' },
        body: bytes,
      });
      const text = await response.text();
      if (!response.ok)
        throw new Error(`Orthanc refused an upload: ${response.status} ${text.slice(0, 200)}`);
      const body = JSON.parse(text) as { ID?: string };
      if (body.ID === undefined) throw new Error('Orthanc answered an upload without an instance id');
      return body.ID;
    },
    async instanceCount() {
      const response = await fetch(`${httpUrl}/instances`);
      if (!response.ok) throw new Error(`GET /instances: ${response.status}`);
      return ((await response.json()) as unknown[]).length;
    },
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    restart: start,
    async dispose() {
      await end('SIGTERM');
      process.removeListener('exit', killOnExit);
      if (kept === undefined) await rm(directory, { recursive: true, force: true });
    },
  };
}
