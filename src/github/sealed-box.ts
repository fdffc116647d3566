/**
 * The value as GitHub takes it: a libsodium sealed box (X25519 + XSalsa20-Poly1305) for the scope's public
 * key, both in base64's original variant (https://docs.github.com/rest/guides/encrypting-secrets-for-the-rest-api).
 * Returns undefined when the key is not a base64 X25519 public key.
 */
export async function sealFor(publicKey: string, value: string): Promise<string | undefined> {
  // Loaded on first use: `config check` and the other commands that seal nothing start without it.
  const { default: sodium } = await import('libsodium-wrappers');
  await sodium.ready;
  let key: Uint8Array;
  try {
    key = sodium.from_base64(publicKey, sodium.base64_variants.ORIGINAL);
  } catch {
    return undefined;
  }
  if (key.length !== sodium.crypto_box_PUBLICKEYBYTES) return undefined;
  return sodium.to_base64(sodium.crypto_box_seal(value, key), sodium.base64_variants.ORIGINAL);
}
