/**
 * The C-STORE SCP: a DICOM listener that takes chest radiographs pushed by a PACS or a modality.
 *
 * Negotiation: the called AE title must be ours and, when a list is configured, the calling AE
 * title one of the allowed (else the association is rejected); Verification is accepted, and so
 * is each storage presentation context whose SOP class is in STORAGE_SOP_CLASSES with one of the
 * decoder's transfer syntaxes (the first that ACCEPTED_TRANSFER_SYNTAXES prefers), as proposed:
 * nothing is transcoded. Every other context is refused; an association with none left is rejected.
 *
 * C-STORE: the data set is kept as the fragments it arrived in (see DataSetCollector), wrapped in
 * a Part 10 file whose File Meta Information says what the command and the association said
 * (SOP class and instance, transfer syntax, the sender's AE title), checked to be readable DICOM
 * naming the same SOP instance, and handed to `onInstance`, which stores it durably and enqueues
 * it. Only when that resolves does the sender get Success: a process killed at any point before
 * has acknowledged nothing it could lose. A failing `onInstance` answers Out of Resources (A700).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { isDicomRejectedError, parseDicomBytes } from '@cxr/dicom';
import { errorSummary, silentLogger, type Logger } from '@cxr/config/log';
import { DataSetCollector, RawDataSet, rawDataSetOf } from './data-set-collector.js';
import {
  Scp,
  commandText,
  constants,
  responses,
  type DimseAssociationNamespace,
  type DimseRequests,
  type DimseResponses,
} from './library.js';
import { part10File } from './part10.js';
import { DimseStatus } from './status.js';
import { withFastCommandEncoding } from './store-response.js';
import {
  VERIFICATION_SOP_CLASS,
  chooseTransferSyntax,
  isAcceptedStorageSopClass,
  isValidAeTitle,
  isValidUid,
} from './uids.js';

type Association = DimseAssociationNamespace.Association;
type PresentationContext = DimseAssociationNamespace.PresentationContext;
type CStoreRequest = DimseRequests.CStoreRequest;
type CEchoRequest = DimseRequests.CEchoRequest;

const { PresentationContextResult, RejectResult, RejectSource, RejectReason } = constants;
const { CEchoResponse, CStoreResponse } = responses;

/** The root of the storage SOP classes (PS3.4 B.5): a refused context under it is an instance refused. */
const STORAGE_SOP_CLASS_ROOT = '1.2.840.10008.5.1.4.1.1.';

/**
 * The largest PDU we announce we receive (A-ASSOCIATE-AC, PS3.8 9.3.3): dcmjs-dimse's own
 * maximum, which caps what it announces. A PDU is gathered whole before it is parsed, by
 * concatenating the socket's chunks (64 KB each): larger PDUs would cost more copies than the
 * per-PDU handling they save.
 */
export const RECEIVE_MAX_PDU_LENGTH = 262_144;

/** An instance received by C-STORE, as a Part 10 file. */
export interface ReceivedInstance {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  readonly callingAeTitle: string;
  /**
   * Move Originator AE Title (0000,1030): set when the instance is a sub-operation of a C-MOVE,
   * to the AE that asked for the move (this pipeline's own retrieves carry its calling AE title).
   */
  readonly moveOriginatorAeTitle: string | undefined;
  /** Preamble, File Meta Information and the data set exactly as received. */
  readonly bytes: Uint8Array;
}

/** Why an association was rejected (a log field and a test hook, not a metric label). */
export type AssociationRejection =
  'called_ae_title' | 'calling_ae_title_not_allowed' | 'no_acceptable_presentation_context';

/** Why a C-STORE was refused (the sender got a failure status and the instance is not stored). */
export type InstanceRefusal =
  'presentation_context_refused' | 'too_large' | 'invalid_uid' | 'not_dicom' | 'sop_instance_mismatch';

/** What the SCP reports as it goes (metrics in production, assertions in tests). */
export interface StoreScpObserver {
  association?(result: 'accepted' | 'rejected' | 'aborted'): void;
  instance?(outcome: 'stored' | 'refused' | 'failed'): void;
}

export interface StoreScpOptions {
  /** Our AE title: associations must call it. */
  readonly aeTitle: string;
  /** Listen address (loopback unless the operator opens it). */
  readonly host: string;
  /** Listen port; 0 = any free port (see RunningStoreScp.port). */
  readonly port: number;
  /** Calling AE titles allowed to associate; empty or absent = any. */
  readonly allowedCallingAeTitles?: readonly string[];
  /** Largest data set taken; a larger one is answered Out of Resources unread. */
  readonly maxObjectBytes: number;
  /** Stores the instance durably (and enqueues it); the sender gets Success only after it resolves. */
  readonly onInstance: (instance: ReceivedInstance) => Promise<void>;
  readonly observer?: StoreScpObserver;
  readonly log?: Logger;
  /** Association, PDU and idle timeout of a connection (default 60 s). */
  readonly timeoutMs?: number;
}

export interface RunningStoreScp {
  /** The port listened on (the chosen one when `port` was 0). */
  readonly port: number;
  /** Stops accepting associations, lets C-STOREs in progress answer, then closes the connections. */
  close(): Promise<void>;
}

/** A connection's listener state, for the `aborted` count. */
type ConnectionState = 'negotiating' | 'accepted' | 'finished';

/** Starts the SCP; resolves once it listens. */
export async function startStoreScp(options: StoreScpOptions): Promise<RunningStoreScp> {
  if (!isValidAeTitle(options.aeTitle)) throw new Error(`invalid SCP AE title "${options.aeTitle}"`);
  const log = options.log ?? silentLogger;
  const observer = options.observer ?? {};
  const allowed = new Set((options.allowedCallingAeTitles ?? []).map((aet) => aet.trim()));
  const timeoutMs = options.timeoutMs ?? 60_000;
  const inFlight = new Set<Promise<void>>();
  const sockets = new Set<Socket>();

  class StoreScpConnection extends Scp {
    #state: ConnectionState = 'negotiating';
    #peer: string;

    constructor(socket: Socket) {
      super(socket, { connectTimeout: timeoutMs, associationTimeout: timeoutMs, pduTimeout: timeoutMs });
      this.#peer = socket.remoteAddress ?? 'unknown';
      this.on('close', () => {
        if (this.#state === 'accepted') {
          // The peer went away (or was killed) without releasing: what it sent unanswered is lost to it.
          this.#state = 'finished';
          observer.association?.('aborted');
          log('warn', 'association dropped', { peer: this.#peer });
        }
      });
      this.on('networkError', (error: unknown) => {
        log('debug', 'association network error', { peer: this.#peer, ...errorSummary(error) });
        socket.destroy();
      });
    }

    override associationRequested(association: Association): void {
      const calling = association.getCallingAeTitle().trim();
      const called = association.getCalledAeTitle().trim();
      const reject = (why: AssociationRejection, reason: number): void => {
        this.#state = 'finished';
        observer.association?.('rejected');
        // AE titles and the address are configuration, not patient data: what an operator needs.
        log('warn', 'association rejected', {
          reason: why,
          callingAeTitle: calling,
          calledAeTitle: called,
          peer: this.#peer,
        });
        this.sendAssociationReject(RejectResult.Permanent, RejectSource.ServiceUser, reason);
      };
      if (called !== options.aeTitle) {
        reject('called_ae_title', RejectReason.CalledAeNotRecognized);
        return;
      }
      if (allowed.size > 0 && !allowed.has(calling)) {
        reject('calling_ae_title_not_allowed', RejectReason.CallingAeNotRecognized);
        return;
      }
      let accepted = 0;
      for (const { id } of association.getPresentationContexts()) {
        if (acceptContext(association.getPresentationContext(id))) accepted += 1;
        else if (
          association.getPresentationContext(id).getAbstractSyntaxUid().startsWith(STORAGE_SOP_CLASS_ROOT)
        ) {
          // An image we do not take (another SOP class, or a syntax the decoder cannot read): refused now.
          observer.instance?.('refused');
        }
      }
      if (accepted === 0) {
        reject('no_acceptable_presentation_context', RejectReason.NoReasonGiven);
        return;
      }
      this.#state = 'accepted';
      observer.association?.('accepted');
      log('debug', 'association accepted', { callingAeTitle: calling, peer: this.#peer, contexts: accepted });
      this.sendAssociationAccept();
    }

    /**
     * Announces RECEIVE_MAX_PDU_LENGTH as the largest PDU we take. The library would announce the
     * smaller of the requestor's own receive limit and its maximum, but each side's limit is its
     * own (PS3.8 D.1): a sender that takes 16 KB PDUs would then cut every instance into 16 KB
     * PDUs for us, each parsed on its own. What we send keeps to the requestor's limit.
     */
    override sendAssociationAccept(): void {
      const association = this.association;
      const peerLimit = association.getMaxPduLength();
      association.setMaxPduLength(RECEIVE_MAX_PDU_LENGTH);
      super.sendAssociationAccept();
      association.setMaxPduLength(peerLimit);
    }

    override associationReleaseRequested(): void {
      this.#state = 'finished';
      this.sendAssociationReleaseResponse();
    }

    override abort(): void {
      if (this.#state === 'accepted') {
        this.#state = 'finished';
        observer.association?.('aborted');
        log('warn', 'association aborted by peer', { peer: this.#peer });
      }
    }

    override cEchoRequest(
      request: CEchoRequest,
      callback: (response: DimseResponses.CEchoResponse) => void,
    ): void {
      const response = CEchoResponse.fromRequest(request);
      response.setStatus(DimseStatus.Success);
      callback(response);
    }

    override createStoreWritableStream(): DataSetCollector {
      return new DataSetCollector(options.maxObjectBytes);
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
      request: CStoreRequest,
      callback: (response: DimseResponses.CStoreResponse) => void,
    ): void {
      const done = receive(request, this.#state === 'accepted' ? this.association : undefined)
        .catch((error: unknown) => {
          // Whatever went wrong, the sender gets an answer (and keeps the instance).
          observer.instance?.('failed');
          log('error', 'instance not stored', errorSummary(error));
          return DimseStatus.ProcessingFailure;
        })
        .then((status) => {
          const response = CStoreResponse.fromRequest(request);
          response.setStatus(status);
          callback(withFastCommandEncoding(response));
        });
      inFlight.add(done);
      void done.finally(() => inFlight.delete(done));
    }

    /** The association of this connection (set by the library once requested). */
    declare association: Association;
  }

  /** Accepts one proposed context (setting its result) or refuses it; returns whether accepted. */
  function acceptContext(context: PresentationContext): boolean {
    const abstract = context.getAbstractSyntaxUid();
    if (abstract === VERIFICATION_SOP_CLASS || isAcceptedStorageSopClass(abstract)) {
      const syntax = chooseTransferSyntax(context.getTransferSyntaxUids());
      if (syntax !== undefined) {
        context.setResult(PresentationContextResult.Accept, syntax);
        return true;
      }
      context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
      return false;
    }
    context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
    return false;
  }

  /** Checks, stores and enqueues one C-STORE; resolves with the status to answer. */
  async function receive(request: CStoreRequest, association: Association | undefined): Promise<number> {
    const refuse = (why: InstanceRefusal, status: number): number => {
      observer.instance?.('refused');
      log('warn', 'instance refused', { reason: why, status });
      return status;
    };
    const raw = rawDataSetOf(request.getDataset());
    const sopClassUid = commandText(request.getAffectedSopClassUid());
    const sopInstanceUid = commandText(request.getAffectedSopInstanceUid());
    if (raw === undefined || association === undefined) {
      return refuse('presentation_context_refused', DimseStatus.ProcessingFailure);
    }
    if (raw.collector.overflow) return refuse('too_large', DimseStatus.OutOfResources);
    if (!isAcceptedStorageSopClass(sopClassUid)) {
      return refuse('presentation_context_refused', DimseStatus.SopClassNotSupported);
    }
    // The UID names the stored file: anything but a well-formed UID could be a path.
    if (!isValidUid(sopInstanceUid)) return refuse('invalid_uid', DimseStatus.CannotUnderstand);
    const moveOriginator = request.getCommandDataset().getElement('MoveOriginatorApplicationEntityTitle');
    const callingAeTitle = association.getCallingAeTitle().trim();
    const bytes = part10File(
      {
        sopClassUid,
        sopInstanceUid,
        transferSyntaxUid: raw.transferSyntaxUid,
        sourceAeTitle: callingAeTitle,
      },
      raw.collector.chunks,
    );
    raw.collector.chunks.length = 0;
    try {
      const parsed = parseDicomBytes(bytes);
      if (parsed.dataSet.string('x00080018')?.trim() !== sopInstanceUid) {
        return refuse('sop_instance_mismatch', DimseStatus.CannotUnderstand);
      }
    } catch (error) {
      if (isDicomRejectedError(error)) return refuse('not_dicom', DimseStatus.CannotUnderstand);
      throw error;
    }
    try {
      await options.onInstance({
        sopClassUid,
        sopInstanceUid,
        transferSyntaxUid: raw.transferSyntaxUid,
        callingAeTitle,
        moveOriginatorAeTitle:
          typeof moveOriginator === 'string' && moveOriginator.trim() !== ''
            ? moveOriginator.trim()
            : undefined,
        bytes,
      });
    } catch (error) {
      observer.instance?.('failed');
      log('error', 'instance not stored', errorSummary(error));
      return DimseStatus.OutOfResources;
    }
    observer.instance?.('stored');
    return DimseStatus.Success;
  }

  const server: Server = createServer((socket) => {
    // A C-STORE response is one small write the sender waits for: Nagle would hold it back.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    new StoreScpConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => {
    log('error', 'SCP listener error', errorSummary(error));
  });
  const address = server.address();
  const port = address !== null && typeof address === 'object' ? address.port : options.port;
  return {
    port,
    async close(): Promise<void> {
      const closed = new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
      await Promise.allSettled([...inFlight]);
      for (const socket of sockets) socket.end();
      // A peer that never closes its side is cut after a grace period.
      const grace = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, 2000);
      await closed;
      clearTimeout(grace);
    },
  };
}
