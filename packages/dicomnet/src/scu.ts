/**
 * The DIMSE service user: C-ECHO, C-FIND (Study Root), C-GET and C-MOVE of single instances, one
 * association per operation. Built on dcmjs-dimse's network layer rather than its Client, for two
 * things the Client does not give: the C-GET sub-operations' data sets as received (kept as their
 * fragments, see DataSetCollector, never re-encoded), and storage presentation contexts proposed
 * one per (SOP class, transfer syntax), so the PACS sends each instance in its stored syntax
 * instead of transcoding it.
 */
import { connect } from 'node:net';
import { DataSetCollector, RawDataSet, rawDataSetOf } from './data-set-collector.js';
import {
  Dataset,
  Scp,
  association as associationClasses,
  commandText,
  requests,
  responses,
  type DimseAssociationNamespace,
  type DimseDataset,
  type DimseRequests,
  type DimseResponses,
} from './library.js';
import { part10File } from './part10.js';
import { DimseError, DimseStatus, formatStatus, outcomeOfStatus } from './status.js';
import {
  ACCEPTED_TRANSFER_SYNTAXES,
  STORAGE_SOP_CLASSES,
  STUDY_ROOT_FIND,
  STUDY_ROOT_GET,
  STUDY_ROOT_MOVE,
  UNCOMPRESSED_TRANSFER_SYNTAXES,
  VERIFICATION_SOP_CLASS,
} from './uids.js';

type Association = DimseAssociationNamespace.Association;
type PresentationContext = DimseAssociationNamespace.PresentationContext;
type Request = DimseRequests.Request;
type Response = DimseResponses.Response;

const { Association: AssociationClass } = associationClasses;
const { CEchoRequest, CFindRequest, CGetRequest, CMoveRequest, CStoreRequest } = requests;
const { CStoreResponse } = responses;

/** A remote application entity and how we call it. */
export interface DimsePeer {
  readonly host: string;
  readonly port: number;
  /** The peer's AE title (Called AE Title). */
  readonly calledAeTitle: string;
  /** Ours (Calling AE Title). */
  readonly callingAeTitle: string;
  /** Connect, association and PDU timeout (default 30 s). */
  readonly timeoutMs?: number;
}

/** The three UIDs that locate one instance in a Study Root archive. */
export interface InstanceUids {
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
}

/** Query/Retrieve levels of the Study Root model (PS3.4 C.6.2.1). */
export type QueryLevel = 'STUDY' | 'SERIES' | 'IMAGE';

/** A C-FIND match: attribute keyword -> value as dcmjs naturalizes it. */
export type FindMatch = Readonly<Record<string, unknown>>;

/** A presentation context to propose: abstract syntax, transfer syntaxes, SCP role for C-GET storage. */
interface ProposedContext {
  readonly abstractSyntax: string;
  readonly transferSyntaxes: readonly string[];
  readonly scpRole?: boolean;
}

/** Receives the C-STORE sub-operations of a C-GET on the association. */
type StoreHandler = (
  sopClassUid: string,
  sopInstanceUid: string,
  collector: DataSetCollector,
  syntax: string,
) => number;

/** One association's network: dcmjs-dimse's Scp (a Network that dispatches requests to methods) used as the requester. */
class ScuConnection extends Scp {
  storeHandler: StoreHandler | undefined;
  maxObjectBytes = 0;

  override createStoreWritableStream(): DataSetCollector {
    return new DataSetCollector(this.maxObjectBytes);
  }

  override createDatasetFromStoreWritableStream(
    writable: unknown,
    context: PresentationContext,
    callback: (dataset: never) => void,
  ): void {
    const collector = writable instanceof DataSetCollector ? writable : new DataSetCollector(0);
    callback(new RawDataSet(collector, context.getAcceptedTransferSyntaxUid() ?? '') as never);
  }

  override cStoreRequest(
    request: DimseRequests.CStoreRequest,
    callback: (response: DimseResponses.CStoreResponse) => void,
  ): void {
    const raw = rawDataSetOf(request.getDataset());
    const status =
      raw === undefined || this.storeHandler === undefined
        ? DimseStatus.ProcessingFailure
        : this.storeHandler(
            commandText(request.getAffectedSopClassUid()),
            commandText(request.getAffectedSopInstanceUid()),
            raw.collector,
            raw.transferSyntaxUid,
          );
    const response = CStoreResponse.fromRequest(request);
    response.setStatus(status);
    callback(response);
  }

  override associationReleaseRequested(): void {
    this.sendAssociationReleaseResponse();
  }

  override abort(): void {
    // Reported through the 'close' that follows.
  }

  /** The association (set by the library when requested). */
  declare association: Association;
}

/** Where a peer is, for messages: AE title and address, never a query value. */
function describePeer(peer: DimsePeer): string {
  return `${peer.calledAeTitle}@${peer.host}:${peer.port}`;
}

/**
 * Opens an association, runs `work` on it, releases it. Errors: association rejected ->
 * `refused` (permanent: configuration), connection failures -> `network`, timeouts -> `timeout`
 * (both transient).
 */
async function withAssociation<T>(
  peer: DimsePeer,
  operation: string,
  contexts: readonly ProposedContext[],
  work: (connection: ScuConnection, association: Association) => Promise<T>,
  setup?: (connection: ScuConnection) => void,
): Promise<T> {
  const timeoutMs = peer.timeoutMs ?? 30_000;
  const association = new AssociationClass(peer.callingAeTitle, peer.calledAeTitle);
  for (const proposed of contexts) {
    const id = association.addPresentationContext(proposed.abstractSyntax);
    for (const syntax of proposed.transferSyntaxes)
      association.addTransferSyntaxToPresentationContext(id, syntax);
    if (proposed.scpRole === true) {
      const context = association.getPresentationContext(id);
      context.setUserRole(false);
      context.setProviderRole(true);
    }
  }
  const socket = connect({ host: peer.host, port: peer.port, noDelay: true });
  const connection = new ScuConnection(socket, {
    connectTimeout: timeoutMs,
    associationTimeout: timeoutMs,
    pduTimeout: timeoutMs,
  });
  setup?.(connection);
  const where = describePeer(peer);
  let settled = false;
  // Rejected by whatever ends the association early: a network error, a timeout, a close.
  let fail: (error: DimseError) => void = () => undefined;
  const ended = new Promise<never>((_, reject) => {
    fail = (error) => {
      if (settled) return;
      settled = true;
      reject(error);
    };
  });
  ended.catch(() => undefined);
  connection.on('networkError', (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    const timedOut = /timeout/i.test(message);
    fail(
      new DimseError(
        timedOut ? 'timeout' : 'network',
        true,
        `${operation} to ${where}: ${timedOut ? 'timed out' : 'connection failed'}`,
        undefined,
        { cause: error },
      ),
    );
    socket.destroy();
  });
  connection.on('close', () => {
    fail(new DimseError('network', true, `${operation} to ${where}: association closed by the peer`));
  });
  try {
    await Promise.race([
      ended,
      new Promise<void>((resolve, reject) => {
        connection.on('connect', () => {
          connection.sendAssociationRequest(association);
        });
        connection.on('associationAccepted', () => {
          resolve();
        });
        connection.on('associationRejected', (reject_: { result: number; reason: number }) => {
          reject(
            new DimseError(
              'refused',
              false,
              `${operation} to ${where}: association rejected (result ${reject_.result}, reason ${reject_.reason}); check the AE titles and the PACS's peer configuration`,
            ),
          );
        });
      }),
    ]);
    const result = await Promise.race([ended, work(connection, connection.association)]);
    // Release politely; a peer that does not answer the release is cut.
    await Promise.race([
      new Promise<void>((resolve) => {
        connection.once('associationReleaseResponse', () => {
          resolve();
        });
        connection.once('close', () => {
          resolve();
        });
        connection.sendAssociationReleaseRequest();
      }),
      new Promise<void>((resolve) => setTimeout(resolve, Math.min(timeoutMs, 5000)).unref()),
    ]);
    return result;
  } finally {
    settled = true;
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}

/** Sends one request and collects its responses until the final one; rejects on a missing context. */
function exchange(
  connection: ScuConnection,
  request: Request,
  onPending?: (response: Response) => void,
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    if (connection.association.getAcceptedPresentationContextFromRequest(request) === undefined) {
      reject(new DimseError('refused', false, 'the peer accepted no presentation context for the request'));
      return;
    }
    request.on('response', (response: Response) => {
      const status = response.getStatus();
      if (status === DimseStatus.Pending || status === DimseStatus.PendingWarning) onPending?.(response);
      else resolve(response);
    });
    connection.sendRequests(request);
  });
}

/** C-ECHO: resolves when the peer answers Success. */
export async function cEcho(peer: DimsePeer): Promise<void> {
  await withAssociation(
    peer,
    'C-ECHO',
    [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: UNCOMPRESSED_TRANSFER_SYNTAXES }],
    async (connection) => {
      const response = await exchange(connection, new CEchoRequest());
      if (response.getStatus() !== DimseStatus.Success) {
        throw new DimseError(
          'failure',
          false,
          `C-ECHO to ${describePeer(peer)}: status ${formatStatus(response.getStatus())}`,
          response.getStatus(),
        );
      }
    },
  );
}

/**
 * C-FIND at one Study Root level with exactly the given keys (keyword -> matching value, '' =
 * return key). Resolves with every match; a failure status rejects (Out of Resources A700/A701, which a
 * PACS answers when a query matches too much, is `transient: false` with that status so the
 * caller can split the query).
 */
export async function cFind(
  peer: DimsePeer,
  level: QueryLevel,
  keys: Readonly<Record<string, string>>,
): Promise<FindMatch[]> {
  return withAssociation(
    peer,
    'C-FIND',
    [{ abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: UNCOMPRESSED_TRANSFER_SYNTAXES }],
    async (connection) => {
      // Exactly these keys: the library's ready-made queries also ask for patient names, sex and
      // birth dates, which nothing here needs (data minimization).
      const request = new CFindRequest();
      request.setDataset(new Dataset({ ...keys, QueryRetrieveLevel: level }));
      const matches: FindMatch[] = [];
      const final = await exchange(connection, request, (pending) => {
        const dataset = pending.getDataset();
        if (dataset !== undefined) matches.push(dataset.getElements());
      });
      const status = final.getStatus();
      if (outcomeOfStatus(status) === 'failure') {
        throw new DimseError(
          'failure',
          false,
          `C-FIND (${level}) on ${describePeer(peer)}: status ${formatStatus(status)}`,
          status,
        );
      }
      return matches;
    },
  );
}

/** Storage contexts proposed for C-GET: one per SOP class and syntax, so none needs transcoding. */
function storageContexts(): ProposedContext[] {
  const contexts: ProposedContext[] = [];
  for (const sopClass of Object.values(STORAGE_SOP_CLASSES)) {
    for (const syntax of ACCEPTED_TRANSFER_SYNTAXES) {
      contexts.push({ abstractSyntax: sopClass, transferSyntaxes: [syntax], scpRole: true });
    }
  }
  return contexts;
}

/** A retrieve's final counts (PS3.4 C.4.2.1.4, C.4.3.1.4). */
export interface RetrieveCounts {
  readonly status: number;
  readonly completed: number;
  readonly failed: number;
  readonly warnings: number;
}

function countsOf(
  response: Response & { getCompleted?(): number; getFailures?(): number; getWarnings?(): number },
): RetrieveCounts {
  return {
    status: response.getStatus(),
    completed: response.getCompleted?.() ?? 0,
    failed: response.getFailures?.() ?? 0,
    warnings: response.getWarnings?.() ?? 0,
  };
}

/**
 * A retrieve that failed as a whole: Out of Resources is transient, the rest is not. A C-GET whose
 * sub-operation failed on the PACS's side (A702 with a failure counted: e.g. Orthanc 1.10 holding
 * an HTJ2K instance it cannot send over DIMSE) will fail the same way again: permanent.
 */
function retrieveFailure(operation: 'C-GET' | 'C-MOVE', peer: DimsePeer, counts: RetrieveCounts): DimseError {
  const { status } = counts;
  const unsendable = operation === 'C-GET' && counts.completed === 0 && counts.failed > 0;
  const transient = ((status & 0xff00) === 0xa700 && !unsendable) || status === DimseStatus.Cancel;
  return new DimseError(
    'failure',
    transient,
    `${operation} from ${describePeer(peer)}: status ${formatStatus(status)}${unsendable ? ', the PACS could not send the instance' : ''}`,
    status,
  );
}

/**
 * C-GET of one instance: resolves with its Part 10 file (the data set as the PACS sent it, in its
 * stored transfer syntax when the PACS honours the proposed contexts), or undefined when the
 * PACS has no such instance (no sub-operation). A data set above `maxBytes` is refused with Out
 * of Resources and rejects with `tooLarge` set.
 */
export async function cGetInstance(
  peer: DimsePeer,
  uids: InstanceUids,
  options: { readonly maxBytes: number },
): Promise<{
  readonly bytes: Uint8Array | undefined;
  readonly counts: RetrieveCounts;
  readonly tooLargeBytes?: number;
}> {
  let bytes: Uint8Array | undefined;
  let tooLargeBytes: number | undefined;
  const counts = await withAssociation(
    peer,
    'C-GET',
    [
      { abstractSyntax: STUDY_ROOT_GET, transferSyntaxes: UNCOMPRESSED_TRANSFER_SYNTAXES },
      ...storageContexts(),
    ],
    async (connection) => {
      const request = CGetRequest.createImageGetRequest(
        uids.studyInstanceUid,
        uids.seriesInstanceUid,
        uids.sopInstanceUid,
      );
      return countsOf(await exchange(connection, request));
    },
    (connection) => {
      connection.maxObjectBytes = options.maxBytes;
      connection.storeHandler = (sopClassUid, sopInstanceUid, collector, syntax) => {
        if (collector.overflow) {
          tooLargeBytes = collector.bytes;
          return DimseStatus.OutOfResources;
        }
        if (sopInstanceUid.trim() !== uids.sopInstanceUid) return DimseStatus.CannotUnderstand;
        bytes = part10File(
          {
            sopClassUid: sopClassUid.trim(),
            sopInstanceUid: uids.sopInstanceUid,
            transferSyntaxUid: syntax,
            sourceAeTitle: peer.calledAeTitle,
          },
          collector.chunks,
        );
        collector.chunks.length = 0;
        return DimseStatus.Success;
      };
    },
  );
  if (outcomeOfStatus(counts.status) === 'failure' && tooLargeBytes === undefined) {
    throw retrieveFailure('C-GET', peer, counts);
  }
  return { bytes, counts, ...(tooLargeBytes !== undefined ? { tooLargeBytes } : {}) };
}

/**
 * C-MOVE of one instance to `destination` (an AE title the PACS knows: this pipeline's SCP).
 * Resolves with the final counts once the PACS reports the move done, i.e. after the destination
 * acknowledged its C-STORE.
 */
export async function cMoveInstance(
  peer: DimsePeer,
  uids: InstanceUids,
  destination: string,
): Promise<RetrieveCounts> {
  const counts = await withAssociation(
    peer,
    'C-MOVE',
    [{ abstractSyntax: STUDY_ROOT_MOVE, transferSyntaxes: UNCOMPRESSED_TRANSFER_SYNTAXES }],
    async (connection) =>
      countsOf(
        await exchange(
          connection,
          CMoveRequest.createImageMoveRequest(
            destination,
            uids.studyInstanceUid,
            uids.seriesInstanceUid,
            uids.sopInstanceUid,
          ),
        ),
      ),
  );
  if (outcomeOfStatus(counts.status) === 'failure') throw retrieveFailure('C-MOVE', peer, counts);
  return counts;
}

/** One instance to send by C-STORE: its data set bytes in `transferSyntaxUid`, sent as they are. */
export interface OutgoingInstance {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  readonly dataSet: Uint8Array;
}

/**
 * C-STORE of one data set exactly as given (no parse, no re-encoding: dcmjs-dimse asks the
 * dataset object for its bytes, and this one hands over these). Resolves with the peer's status.
 */
export async function cStore(peer: DimsePeer, instance: OutgoingInstance): Promise<number> {
  return withAssociation(
    peer,
    'C-STORE',
    [{ abstractSyntax: instance.sopClassUid, transferSyntaxes: [instance.transferSyntaxUid] }],
    async (connection) => {
      const request = new CStoreRequest(
        new Dataset(
          { SOPClassUID: instance.sopClassUid, SOPInstanceUID: instance.sopInstanceUid },
          instance.transferSyntaxUid,
        ),
      );
      const bytes = Buffer.from(
        instance.dataSet.buffer,
        instance.dataSet.byteOffset,
        instance.dataSet.byteLength,
      );
      const asIs = {
        getTransferSyntaxUid: () => instance.transferSyntaxUid,
        getDenaturalizedDataset: () => bytes,
      };
      request.setDataset(asIs as unknown as DimseDataset);
      return (await exchange(connection, request)).getStatus();
    },
  );
}
