export { delongByDefinition } from './reference.js';
export { ASAH_POOR, ASAH_S100B, ASAH_WFNS } from './asah.js';
