export { delongByDefinition } from './reference.js';
export { ASAH_POOR, ASAH_S100B, ASAH_WFNS } from './asah.js';
export { TRICKY_GROUP, TRICKY_LABEL, reportFixture } from './report-fixture.js';
