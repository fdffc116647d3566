import { describeStore, type StoredField, type Stores } from './index';
import { versionLabel } from './labels';
import { StoreError } from './store';

/** Reads every field the inventory names the same way, Vault's or another store's: its current version. */
export function storedFieldReader(stores: Stores) {
  return async (at: StoredField): Promise<string> => {
    const ref = 'store' in at ? at.store : { mount: at.mount, path: at.path };
    const { data, version } = await stores.of(ref).readCurrent(ref);
    const value = data[at.key];
    if (value === undefined)
      throw new StoreError(
        `${describeStore(ref)} ${versionLabel(version)} has no field "${at.key}"`,
        'not-found',
      );
    return value;
  };
}
