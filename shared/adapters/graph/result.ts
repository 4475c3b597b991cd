// Moved: the result convention belongs to the port (shared/services/graph-result.ts).
export { success, type GraphFailure, type GraphResult } from '../../services/graph-result.js';
