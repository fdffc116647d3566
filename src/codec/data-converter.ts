import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec';
import type { CodecKeys } from './keys';

const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/**
 * What the worker and the clients use when codec keys are configured: every payload encrypted, and failure
 * messages and stack traces with them. Without keys, the SDK's default converter (undefined) applies.
 */
export function encryptedDataConverter(keys: CodecKeys | undefined): DataConverter | undefined {
  if (keys === undefined) return undefined;
  return { payloadCodecs: [new EncryptionCodec(keys)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
