export { decodeBase64, decodeBase64Secret, encodeBase64, encodeBase64Secret } from './base64.js';
export { canonicalJson, parseJsonObject, utf8Decode, utf8Encode, withUtf8 } from './json.js';
export { ProtoReader, varintLength, WIRE_BYTES, WIRE_VARINT, writeVarint } from './varint.js';
