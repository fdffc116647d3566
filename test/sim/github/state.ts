import { randomBytes } from 'node:crypto';
import { recordMintedValue } from '../../infra/secret-scan';
import sodium from 'libsodium-wrappers';

/** In-memory GitHub: tokens, organizations, repositories, environments and their Actions secrets. */

export interface SimKeyPair {
  keyId: string;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

export interface SimSecret {
  name: string;
  /** The sealed box as received, and the key it was sealed for: GitHub keeps secrets encrypted. */
  encryptedValue: string;
  keyId: string;
  createdAt: string;
  updatedAt: string;
  /** Organization secrets only. */
  visibility?: 'all' | 'private' | 'selected';
  selectedRepositoryIds?: number[];
}

/** A repository, an environment or an organization: whatever has its own public key and secrets. */
export interface SimScope {
  /** `repo acme/app`, `env acme/app/production`, `org acme`: for messages in tests. */
  label: string;
  keys: SimKeyPair[];
  secrets: Map<string, SimSecret>;
}

export interface SimRepository extends SimScope {
  id: number;
  owner: string;
  name: string;
  private: boolean;
  createdAt: string;
  environments: Map<string, SimScope>;
}

export interface SimOrganization extends SimScope {
  id: number;
  login: string;
}

export interface SimToken {
  value: string;
  login: string;
  userId: number;
  /** Repositories (`owner/name`) and organizations it may reach; undefined: all of them. */
  reaches?: string[];
  /** `read` tokens see secrets' metadata but are refused writes with 403. */
  secrets: 'read' | 'write';
  rateLimit: { limit: number; used: number; resetAt: number };
}

/** GitHub's timestamps: ISO 8601 to the second. */
export const timestamp = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

const RATE_LIMIT = 5000;

export class GitHubState {
  readonly tokens = new Map<string, SimToken>();
  readonly organizations = new Map<string, SimOrganization>();
  readonly repositories = new Map<string, SimRepository>();
  private nextId = 1000;
  private nextKeyId = 3380204578043523000n;
  /** The simulator's clock. */
  now: () => Date = () => new Date();

  private id(): number {
    return this.nextId++;
  }

  private keyPair(): SimKeyPair {
    const { publicKey, privateKey } = sodium.crypto_box_keypair();
    this.nextKeyId += 1n;
    return { keyId: String(this.nextKeyId), publicKey, privateKey };
  }

  addToken(options: { login?: string; reaches?: string[]; secrets?: 'read' | 'write' } = {}): SimToken {
    const token: SimToken = {
      value: `ghp_${randomBytes(18).toString('base64url')}`,
      login: options.login ?? 'rotator-bot',
      userId: this.id(),
      reaches: options.reaches,
      secrets: options.secrets ?? 'write',
      rateLimit: { limit: RATE_LIMIT, used: 0, resetAt: this.hourFromNow() },
    };
    this.tokens.set(token.value, token);
    recordMintedValue(token.value);
    return token;
  }

  private hourFromNow(): number {
    return Math.floor(this.now().getTime() / 1000) + 3600;
  }

  /** Spends the token's primary rate limit; it resets `resetInSeconds` from now. */
  exhaustRateLimit(token: SimToken, resetInSeconds: number): void {
    token.rateLimit = {
      limit: RATE_LIMIT,
      used: RATE_LIMIT,
      resetAt: Math.floor(this.now().getTime() / 1000) + resetInSeconds,
    };
  }

  addOrganization(login: string): SimOrganization {
    const org = { label: `org ${login}`, id: this.id(), login, keys: [this.keyPair()], secrets: new Map() };
    this.organizations.set(login, org);
    return org;
  }

  addRepository(fullName: string, options: { private?: boolean } = {}): SimRepository {
    const [owner = '', name = ''] = fullName.split('/');
    const repository: SimRepository = {
      label: `repo ${fullName}`,
      id: this.id(),
      owner,
      name,
      private: options.private ?? true,
      createdAt: timestamp(this.now()),
      keys: [this.keyPair()],
      secrets: new Map(),
      environments: new Map(),
    };
    this.repositories.set(fullName, repository);
    return repository;
  }

  addEnvironment(repository: SimRepository, name: string): SimScope {
    const environment = {
      label: `env ${repository.owner}/${repository.name}/${name}`,
      keys: [this.keyPair()],
      secrets: new Map(),
    };
    repository.environments.set(name, environment);
    return environment;
  }

  /** The key values are sealed for now; earlier keys stay only to read what was sealed with them. */
  currentKey(scope: SimScope): SimKeyPair {
    const key = scope.keys[scope.keys.length - 1];
    if (key === undefined) throw new Error(`${scope.label} has no key`);
    return key;
  }

  /** A new key pair for the scope, as when GitHub rotates it: values sealed for the old one are refused. */
  rotateKey(scope: SimScope): SimKeyPair {
    const key = this.keyPair();
    scope.keys.push(key);
    return key;
  }

  /** Opens a sealed box for the scope's current key; undefined when it is not one. */
  open(scope: SimScope, keyId: string, encryptedValue: string): string | undefined {
    const key = this.currentKey(scope);
    if (key.keyId !== keyId) return undefined;
    try {
      const box = sodium.from_base64(encryptedValue, sodium.base64_variants.ORIGINAL);
      return sodium.to_string(sodium.crypto_box_seal_open(box, key.publicKey, key.privateKey));
    } catch {
      return undefined;
    }
  }

  /** Seeds a secret as if someone had set it, sealed for the scope's current key. */
  setSecret(scope: SimScope, name: string, value: string, access: Partial<SimSecret> = {}): SimSecret {
    const key = this.currentKey(scope);
    const at = timestamp(this.now());
    const secret: SimSecret = {
      name: name.toUpperCase(),
      encryptedValue: sodium.to_base64(
        sodium.crypto_box_seal(value, key.publicKey),
        sodium.base64_variants.ORIGINAL,
      ),
      keyId: key.keyId,
      createdAt: at,
      updatedAt: at,
      ...access,
    };
    scope.secrets.set(secret.name, secret);
    return secret;
  }

  /** What the secret holds, decrypted with the key it was sealed for; undefined when there is no such secret. */
  plaintext(scope: SimScope, name: string): string | undefined {
    const secret = scope.secrets.get(name.toUpperCase());
    if (secret === undefined) return undefined;
    const key = scope.keys.find((candidate) => candidate.keyId === secret.keyId);
    if (key === undefined) throw new Error(`${scope.label} lost key ${secret.keyId}`);
    const box = sodium.from_base64(secret.encryptedValue, sodium.base64_variants.ORIGINAL);
    return sodium.to_string(sodium.crypto_box_seal_open(box, key.publicKey, key.privateKey));
  }
}
