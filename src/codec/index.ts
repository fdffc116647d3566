export { encryptedDataConverter } from './data-converter';
export { ENCODING, EncryptionCodec, KEY_ID, PayloadDecryptionError, isEncrypted } from './encryption-codec';
export { decryptHistoryPayloads } from './history';
export {
  KEYS_FILE_VARIABLE,
  KEYS_VARIABLE,
  parseCodecKeys,
  readCodecKeys,
  type CodecKeySettings,
  type CodecKeys,
} from './keys';
export {
  codecServerToken,
  randomCodecServerToken,
  startCodecServer,
  type CodecServer,
  type CodecServerOptions,
} from './server';
