/** The wire protocol: framing, parsing, validation, the original's texts, response encoding. */
export { LINE_TOO_LONG, LineReader } from './line-reader.js';
export { DECODE_REQUEST, OPERATIONS, REQUIRED_FIELDS, lookupOperation, type Operation, type RequiredField } from './operations.js';
export { decodeLine, parseRequest, type DecodedLine, type ParseLimits } from './parse-request.js';
export { compactJson, findBodyMember, type Span } from './raw-json.js';
export type * from './requests.js';
export * from './response.js';
export * from './wire-texts.js';
