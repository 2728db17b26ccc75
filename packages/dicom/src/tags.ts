/**
 * Data element tags this package reads, in dicom-parser's key format `xggggeeee` (lower-case hex).
 * Only the attributes decoding needs: patient attributes other than Patient ID are deliberately
 * absent so that no code path can read them by accident.
 */
export const Tag = {
  // File Meta Information (PS3.10 7.1)
  TransferSyntaxUid: 'x00020010',

  // SOP Common, General Series/Study/Equipment (technical, safe to log)
  ImageType: 'x00080008',
  SopClassUid: 'x00080016',
  SopInstanceUid: 'x00080018',
  Modality: 'x00080060',
  Manufacturer: 'x00080070',
  InstitutionName: 'x00080080',
  ManufacturerModelName: 'x00081090',
  BodyPartExamined: 'x00180015',
  ViewPosition: 'x00185101',
  StudyInstanceUid: 'x0020000d',
  SeriesInstanceUid: 'x0020000e',

  // Patient ID only: hashed by the caller, never logged (see DicomImageInfo.patientId)
  PatientId: 'x00100020',

  // Image Pixel module (PS3.3 C.7.6.3) and Multi-frame module (C.7.6.6)
  SamplesPerPixel: 'x00280002',
  PhotometricInterpretation: 'x00280004',
  PlanarConfiguration: 'x00280006',
  NumberOfFrames: 'x00280008',
  Rows: 'x00280010',
  Columns: 'x00280011',
  BitsAllocated: 'x00280100',
  BitsStored: 'x00280101',
  HighBit: 'x00280102',
  PixelRepresentation: 'x00280103',

  // Multi-frame Functional Groups module (PS3.3 C.7.6.16) and the macros that change pixel values
  SharedFunctionalGroupsSequence: 'x52009229',
  PerFrameFunctionalGroupsSequence: 'x52009230',
  PixelValueTransformationSequence: 'x00289145',
  FrameVoiLutSequence: 'x00289132',

  // Presentation LUT (PS3.3 C.11.6): in image IODs only IDENTITY / INVERSE matching the photometric
  PresentationLutShape: 'x20500020',
  PresentationLutSequence: 'x20500010',

  // VOI LUT module (PS3.3 C.11.2)
  WindowCenter: 'x00281050',
  WindowWidth: 'x00281051',
  WindowCenterWidthExplanation: 'x00281055',
  VoiLutFunction: 'x00281056',
  VoiLutSequence: 'x00283010',

  // Modality LUT module (PS3.3 C.11.1)
  RescaleIntercept: 'x00281052',
  RescaleSlope: 'x00281053',
  RescaleType: 'x00281054',
  ModalityLutSequence: 'x00283000',
  LutDescriptor: 'x00283002',
  LutExplanation: 'x00283003',
  ModalityLutType: 'x00283004',
  LutData: 'x00283006',

  // Palette Color Lookup Table module (PS3.3 C.7.9)
  RedPaletteDescriptor: 'x00281101',
  GreenPaletteDescriptor: 'x00281102',
  BluePaletteDescriptor: 'x00281103',
  RedPaletteData: 'x00281201',
  GreenPaletteData: 'x00281202',
  BluePaletteData: 'x00281203',
  SegmentedRedPaletteData: 'x00281221',
  SegmentedGreenPaletteData: 'x00281222',
  SegmentedBluePaletteData: 'x00281223',

  // Pixel Data and its offset tables (PS3.5 A.4)
  ExtendedOffsetTable: 'x7fe00001',
  ExtendedOffsetTableLengths: 'x7fe00002',
  FloatPixelData: 'x7fe00008',
  DoubleFloatPixelData: 'x7fe00009',
  PixelData: 'x7fe00010',
} as const;

export type TagKey = (typeof Tag)[keyof typeof Tag];
