import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHealthActivities } from '../../activities/health';
import { loadInventory, type InventoryResult } from '../../src/inventory/load';
import { allKinds } from '../../src/kinds';
import { openStores } from '../../src/stores';
import { VaultKvStore } from '../../src/vault';
import { oneCredentialInventory } from '../helpers/inventory';
import { testServers } from '../infra/test-servers';

const EXAMPLE = join(__dirname, '../../examples/rotator.yaml');

/** The notes the health check carries into its report, read from the inventory as each check reads it. */
function notesOf(inventory: InventoryResult) {
  const activities = createHealthActivities({
    stores: openStores({ vault: new VaultKvStore(testServers().vault) }),
    providers: allKinds,
    inventoryPath: 'rotator.yaml',
    readInventory: () => Promise.resolve(inventory),
  });
  return activities.healthCheckPlans().then(({ notes }) => notes);
}

describe('the health check notes admin tokens the rotator cannot rotate', () => {
  it('notes each GitHub provider, whose admin token no API mints', async () => {
    expect(await notesOf(loadInventory(readFileSync(EXAMPLE, 'utf8')))).toEqual([
      expect.stringMatching(
        /^providers\.github\.github-com: its admin token cannot be rotated by the rotator \(GitHub has no API/,
      ),
    ]);
  });

  it('carries no notes for an inventory without GitHub', async () => {
    const inventory = oneCredentialInventory({});
    expect(inventory.ok).toBe(true);
    expect(await notesOf(inventory)).toBeUndefined();
  });
});
