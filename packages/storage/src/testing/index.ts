export {
  S3RVER_ACCESS_KEY,
  createTestS3Client,
  seedBucket,
  startS3rver,
  type RunningS3rver,
} from './s3rver.js';
export { startFaultProxy, type FaultKind, type FaultProxy, type FaultRule } from './fault-proxy.js';
export {
  ORTHANC_DICOMWEB_PLUGIN,
  freePort,
  startOrthanc,
  type OrthancModality,
  type OrthancOptions,
  type RunningOrthanc,
} from './orthanc.js';
export { dicomCopy, freshUid, publicDicomFile, type InstanceChanges } from './dicom-copies.js';
