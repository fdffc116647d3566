import { DefaultFailureConverter } from '@temporalio/common';

/*
 * Loaded by path (the SDK's `failureConverterPath`), inside the workflow sandbox too, so it imports nothing
 * but @temporalio/common. With `encodeCommonAttributes`, a failure's message and stack trace move into a
 * payload, which the codec then encrypts: an activity's error text is as private as its result.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
