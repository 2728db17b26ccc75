/**
 * The actions of `cxr study create` and `cxr study report` (loaded only when a command runs).
 * Exit codes: 0 done; 2 bad usage (options, an unusable readers or labels file, an unknown run or
 * study); 1 anything else. Errors name the file and the reason, never a cell's content.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { CsvFormatError, readCsvFile } from '@cxr/csv';
import { loadConfig } from '@cxr/config';
import { StudyInputError } from '@cxr/evaluation/study';
import { decide } from '@cxr/model/decision';
import { readManifest, type ModelManifest } from '@cxr/model/manifest';
import {
  STUDY_ID_PATTERN,
  StudyExistsError,
  readerTokenHash,
  openStore,
  rowKeyOf,
  type NewStudyReader,
  type ResultStore,
  type StoredResult,
  type StudyAiOutput,
  type StudyCase,
  type StudyDefinition,
  type StudyDesign,
} from '@cxr/store';
import { CliError, ExitCode, UsageError } from '../output.js';
import { assignReadings, mulberry32, sampleStratified } from '../study/design.js';
import { readStudyLabels, truthMatcher, type CaseTruth } from '../study/truth.js';

export interface StudyCreateOptions {
  readonly run: string;
  readonly cases: number;
  readonly design: StudyDesign;
  readonly readers: string;
  readonly out: string;
  readonly seed: number;
  readonly store?: string;
  readonly id?: string;
  readonly findings?: string;
  readonly model?: string;
  readonly labels?: string;
  readonly labelMap?: string;
  readonly baseUrl: string;
}

export interface StudyReportOptions {
  readonly study: string;
  readonly labels: string;
  readonly labelMap?: string;
  readonly out: string;
  readonly store?: string;
  readonly seed: number;
}

export interface StudyStatusOptions {
  readonly study: string;
  readonly store?: string;
  readonly json?: boolean;
}

/** study.json: what the study folder records (no secret, no URI, no patient data). */
export interface StudyFile extends StudyDefinition {
  readonly format: 'cxr-reader-study-1';
  readonly readers: readonly { readonly id: string; readonly name: string; readonly readings: number }[];
  readonly cases: readonly { readonly caseId: string; readonly rowKey: string; readonly stratum: string }[];
  readonly strata: Readonly<Record<string, number>>;
}

export const STUDY_FILE = 'study.json';
export const LINKS_FILE = 'links.csv';

/** Reads the readers file: CSV with `id` and `name` columns, or a JSON array of {id, name}. */
export async function readReadersFile(path: string): Promise<{ id: string; name: string }[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`${path}: cannot read the readers file`);
  }
  const readers: { id: string; name: string }[] = [];
  if (text.trimStart().startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new UsageError(`${path}: not valid JSON`);
    }
    if (!Array.isArray(json)) throw new UsageError(`${path}: expected a JSON array of {"id", "name"}`);
    json.forEach((entry: unknown, i) => {
      const record = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>) : {};
      const id = record.id;
      const name = record.name ?? id;
      if (typeof id !== 'string' || typeof name !== 'string') {
        throw new UsageError(`${path}: entry ${i + 1}: expected {"id": "...", "name": "..."}`);
      }
      readers.push({ id: id.trim(), name: name.trim() });
    });
  } else {
    let idColumn = -1;
    let nameColumn = -1;
    try {
      for await (const { line, fields } of readCsvFile(path)) {
        if (idColumn === -1) {
          const header = fields.map((f) => f.trim().toLowerCase());
          idColumn = header.findIndex((h) => h === 'id' || h === 'reader_id' || h === 'reader');
          nameColumn = header.indexOf('name');
          if (idColumn === -1) throw new UsageError(`${path}: no id column (header: id,name)`);
          continue;
        }
        const id = fields[idColumn]?.trim() ?? '';
        if (id === '' && fields.every((f) => f.trim() === '')) continue;
        const name = (nameColumn === -1 ? '' : (fields[nameColumn]?.trim() ?? '')) || id;
        if (id === '') throw new UsageError(`${path}: line ${line}: empty reader id`);
        readers.push({ id, name });
      }
    } catch (error) {
      if (error instanceof CsvFormatError) throw new UsageError(error.message);
      throw error;
    }
  }
  if (readers.length === 0) throw new UsageError(`${path}: no readers`);
  const seen = new Set<string>();
  for (const [i, reader] of readers.entries()) {
    if (!STUDY_ID_PATTERN.test(reader.id)) {
      throw new UsageError(
        `${path}: reader ${i + 1}: an id is 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit)`,
      );
    }
    if (seen.has(reader.id)) throw new UsageError(`${path}: reader ${i + 1}: duplicate id`);
    if (reader.name.length > 200)
      throw new UsageError(`${path}: reader ${i + 1}: name longer than 200 characters`);
    seen.add(reader.id);
  }
  return readers;
}

/** The labels the readers decide on. */
function studyLabels(
  options: StudyCreateOptions,
  manifest: ModelManifest | undefined,
  scored: readonly string[],
): string[] {
  if (options.findings !== undefined) {
    const labels = options.findings
      .split(',')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    if (labels.length === 0) throw new UsageError('--findings: no label given');
    const unknown = labels.find((l) => !scored.includes(l));
    if (unknown !== undefined)
      throw new UsageError(`--findings: ${unknown} is not a label the run's results are scored on`);
    return [...new Set(labels)];
  }
  if (manifest !== undefined) return manifest.output.labels.filter((l) => l !== manifest.output.normalLabel);
  return [...scored];
}

/** What the AI said of a result: its scores, the labels it called positive, the stored decision. */
function aiOutput(row: StoredResult, manifest: ModelManifest | undefined): StudyAiOutput {
  const scores = row.scores ?? {};
  let positives: string[] = row.decision !== null && row.decision in scores ? [row.decision] : [];
  if (manifest !== undefined) {
    const values = manifest.output.labels.map((label) => scores[label]);
    if (values.every((v): v is number => typeof v === 'number')) {
      positives = [...decide(values, manifest.output).positives];
    }
  }
  return { scores, positives, diagnosis: row.decision };
}

async function openForStudy(url: string | undefined): Promise<ResultStore> {
  return openStore(url ?? loadConfig().store.url, { mustExist: true });
}

async function ensureEmptyFolder(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  });
  if (entries !== undefined && entries.length > 0) {
    throw new UsageError(`${dir}: the study folder exists and is not empty`);
  }
  await mkdir(dir, { recursive: true });
}

function csvCell(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** `cxr study create`. */
export async function studyCreateCommand(options: StudyCreateOptions): Promise<void> {
  const studyId = options.id ?? basename(resolve(options.out));
  if (!STUDY_ID_PATTERN.test(studyId)) {
    throw new UsageError(
      `study id "${studyId}": 1-64 letters, digits, '.', '_' or '-'; name the --out folder so or give --id`,
    );
  }
  let base: URL;
  try {
    base = new URL(options.baseUrl);
  } catch {
    throw new UsageError('--base-url: not a URL');
  }
  const readers = await readReadersFile(options.readers);
  const manifest = options.model === undefined ? undefined : await readManifest(options.model);
  const store = await openForStudy(options.store);
  try {
    const counts = await store.countByOutcome(options.run);
    if (counts.ok + counts.rejected + counts.failed === 0)
      throw new UsageError(`--run ${options.run}: no such run in the store`);
    if (counts.ok === 0) throw new UsageError(`--run ${options.run}: the run has no ok results`);
    if ((await store.studies.study(studyId)) !== undefined) {
      throw new UsageError(`study ${studyId} exists already in the store; choose another --id`);
    }
    const rows: StoredResult[] = [];
    for await (const row of store.iterateRun(options.run))
      if (row.outcome === 'ok' && row.scores !== null) rows.push(row);
    const scored = [...new Set(rows.flatMap((row) => Object.keys(row.scores ?? {})))].sort();
    const labels = studyLabels(options, manifest, scored);
    let truthOf: ((row: StoredResult) => CaseTruth | undefined) | undefined;
    if (options.labels !== undefined) {
      try {
        truthOf = truthMatcher(await readStudyLabels(options.labels, labels, options.labelMap), labels);
      } catch (error) {
        if (error instanceof StudyInputError || error instanceof CsvFormatError)
          throw new UsageError(error.message);
        throw error;
      }
    }
    // The stratum: the truth's positive labels where every study label is known, else the AI's decision.
    const stratumOf = (row: StoredResult): string => {
      const truth = truthOf?.(row);
      if (truth !== undefined && labels.every((l) => truth[l] !== undefined)) {
        const positives = labels.filter((l) => truth[l] === true);
        return `truth:${positives.length === 0 ? 'none' : positives.join('+')}`;
      }
      return `ai:${row.decision ?? 'none'}`;
    };
    const random = mulberry32(options.seed);
    let sample: StoredResult[];
    try {
      sample = sampleStratified(rows, stratumOf, options.cases, random);
    } catch (error) {
      if (error instanceof RangeError) throw new UsageError(`--cases: ${error.message}`);
      throw error;
    }
    const width = Math.max(3, String(sample.length).length);
    const cases: (StudyCase & { stratum: string })[] = sample.map((row, i) => ({
      caseId: `case-${String(i + 1).padStart(width, '0')}`,
      rowKey: rowKeyOf(row),
      ai: aiOutput(row, manifest),
      stratum: stratumOf(row),
    }));
    const assignments = assignReadings(
      options.design,
      readers.map((r) => r.id),
      cases.map((c) => c.caseId),
      random,
    );
    const tokens = readers.map(() => randomBytes(32).toString('base64url'));
    const storeReaders: NewStudyReader[] = readers.map((r, i) => ({
      readerId: r.id,
      name: r.name,
      tokenHash: readerTokenHash(tokens[i]!),
    }));
    const createdAt = new Date().toISOString();
    const strata: Record<string, number> = {};
    for (const c of cases) strata[c.stratum] = (strata[c.stratum] ?? 0) + 1;
    const file: StudyFile = {
      format: 'cxr-reader-study-1',
      studyId,
      runId: options.run,
      design: options.design,
      labels,
      seed: options.seed,
      createdAt,
      readers: readers.map((r) => ({
        id: r.id,
        name: r.name,
        readings: assignments.filter((a) => a.readerId === r.id).length,
      })),
      cases: cases.map((c) => ({ caseId: c.caseId, rowKey: c.rowKey, stratum: c.stratum })),
      strata,
    };
    // The folder first (links.csv is the only copy of the tokens), then the store; a store
    // failure removes the folder so nothing half-made is left.
    await ensureEmptyFolder(options.out);
    const linksPath = join(options.out, LINKS_FILE);
    const readUrl = new URL('/study/read', base);
    const links = readers.map((r, i) => {
      readUrl.searchParams.set('token', tokens[i]!);
      return [r.id, r.name, readUrl.href].map(csvCell).join(',');
    });
    await writeFile(linksPath, ['reader_id,name,link', ...links].join('\n') + '\n', { mode: 0o600 });
    await chmod(linksPath, 0o600);
    await writeFile(join(options.out, STUDY_FILE), `${JSON.stringify(file, null, 2)}\n`);
    try {
      await store.studies.createStudy({
        study: { studyId, runId: options.run, design: options.design, labels, seed: options.seed, createdAt },
        readers: storeReaders,
        cases: cases.map(({ caseId, rowKey, ai }) => ({ caseId, rowKey, ai })),
        assignments,
      });
    } catch (error) {
      await rm(options.out, { recursive: true, force: true });
      if (error instanceof StudyExistsError) throw new UsageError(error.message);
      throw error;
    }
    process.stdout.write(
      `study ${studyId}: ${options.design}, ${cases.length} cases from run ${options.run}, ${readers.length} readers, ` +
        `${assignments.length / readers.length} readings each; labels ${labels.join(', ')}\n` +
        `strata: ${Object.entries(strata)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}\n` +
        `wrote ${join(options.out, STUDY_FILE)} and ${linksPath} (secret reading links, mode 0600)\n`,
    );
  } finally {
    await store.close();
  }
}

/** Reads and checks study.json of a study folder. */
export async function readStudyFile(dir: string): Promise<StudyFile> {
  const path = join(dir, STUDY_FILE);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    throw new UsageError(`${path}: not a study file of \`cxr study create\``);
  }
  const file = json as Partial<StudyFile> | null;
  if (file?.format !== 'cxr-reader-study-1' || typeof file.studyId !== 'string') {
    throw new UsageError(`${path}: not a study file of \`cxr study create\``);
  }
  return file as StudyFile;
}

/** `cxr study status`. */
export async function studyStatusCommand(options: StudyStatusOptions): Promise<void> {
  const file = await readStudyFile(options.study);
  const store = await openForStudy(options.store);
  try {
    const study = await store.studies.study(file.studyId);
    if (study === undefined)
      throw new UsageError(`study ${file.studyId} is not in this store (check --store)`);
    const readers = [];
    for (const reader of await store.studies.readers(study.studyId)) {
      const progress = await store.studies.progress(study.studyId, reader.readerId);
      readers.push({
        readerId: reader.readerId,
        name: reader.name,
        done: progress.done,
        total: progress.total,
        next:
          progress.next === undefined
            ? null
            : {
                position: progress.next.assignment.position + 1,
                session: progress.next.assignment.session,
                arm: progress.next.assignment.arm,
              },
      });
    }
    if (options.json === true) {
      process.stdout.write(
        `${JSON.stringify({ studyId: study.studyId, design: study.design, readers }, null, 2)}\n`,
      );
      return;
    }
    const lines = readers.map(
      (r) =>
        `${r.readerId}  ${r.done}/${r.total}  ${
          r.next === null
            ? 'finished'
            : `next: reading ${r.next.position}, session ${r.next.session}, ${r.next.arm}`
        }`,
    );
    const done = readers.filter((r) => r.next === null).length;
    process.stdout.write(
      `study ${study.studyId} (${study.design}): ${done} of ${readers.length} readers finished\n${lines.join('\n')}\n`,
    );
  } finally {
    await store.close();
  }
}

/** `cxr study report`. */
export async function studyReportCommand(options: StudyReportOptions): Promise<void> {
  const file = await readStudyFile(options.study);
  const { analyzeReaderStudy, renderReaderStudyHtml, ReaderStudyError } =
    await import('@cxr/evaluation/readers');
  const store = await openForStudy(options.store);
  try {
    const study = await store.studies.study(file.studyId);
    if (study === undefined)
      throw new UsageError(`study ${file.studyId} is not in this store (check --store)`);
    let truthOf: (row: StoredResult) => CaseTruth | undefined;
    try {
      truthOf = truthMatcher(
        await readStudyLabels(options.labels, study.labels, options.labelMap),
        study.labels,
      );
    } catch (error) {
      if (error instanceof StudyInputError || error instanceof CsvFormatError)
        throw new UsageError(error.message);
      throw error;
    }
    const cases = await store.studies.cases(study.studyId);
    const truth = new Map<string, CaseTruth>();
    let unmatched = 0;
    for (const c of cases) {
      const row = await store.resultByRowKey(c.rowKey);
      const caseTruth = row === undefined ? undefined : truthOf(row);
      if (caseTruth === undefined) unmatched += 1;
      else truth.set(c.caseId, caseTruth);
    }
    const aiPositives = new Map(cases.map((c) => [c.caseId, c.ai.positives]));
    const stored = await store.studies.readings(study.studyId);
    const readings = stored.flatMap((r) =>
      study.labels.map((label) => ({
        readerId: r.readerId,
        caseId: r.caseId,
        arm: r.arm,
        label,
        decision: r.decisions[label] === true,
        confidence: r.confidence[label] ?? 3,
        readingTimeMs: r.readingTimeMs,
        aiDecision: aiPositives.get(r.caseId)?.includes(label) === true,
      })),
    );
    let report;
    try {
      report = analyzeReaderStudy({
        studyId: study.studyId,
        design: study.design,
        labels: study.labels,
        truth,
        readings,
        seed: options.seed,
      });
    } catch (error) {
      if (error instanceof ReaderStudyError) throw new CliError(error.message, ExitCode.Usage);
      throw error;
    }
    await mkdir(options.out, { recursive: true });
    const jsonPath = join(options.out, 'report.json');
    const htmlPath = join(options.out, 'report.html');
    await writeFile(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(htmlPath, renderReaderStudyHtml(report));
    process.stderr.write(
      `study ${study.studyId}: ${stored.length} readings of ${cases.length} cases` +
        `${unmatched > 0 ? ` (${unmatched} cases without a label row)` : ''}; wrote ${jsonPath} and ${htmlPath}\n`,
    );
  } finally {
    await store.close();
  }
}
