import { InventoryLoader, loadInventory } from '../../src/inventory/load';
import { fleetId, fleetInventoryYaml } from '../helpers/fleet-inventory';

const COUNT = 30;
const text = fleetInventoryYaml(COUNT);

/** The text with one line of credential `index` changed, as an operator's edit. */
function edited(index: number, from: string, to: string): string {
  const start = text.indexOf(`- id: ${fleetId(index)}\n`);
  const at = text.indexOf(from, start);
  return `${text.slice(0, at)}${to}${text.slice(at + from.length)}`;
}

function loaded(loader: InventoryLoader, next: string) {
  const result = loader.load(next);
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.inventory;
}

describe('reloading an inventory after a change', () => {
  it('reuses every credential whose entry did not change, and validates the changed one again', () => {
    const loader = new InventoryLoader();
    const before = loaded(loader, text);
    const after = loaded(loader, edited(4, 'Deploys service 4', 'Deploys service four'));

    expect(loader.reused).toBe(COUNT - 1);
    expect(after.credentials[4]?.description).toMatch(/^Deploys service four/);
    after.credentials.forEach((credential, index) => {
      if (index === 4) expect(credential).not.toBe(before.credentials[4]);
      else expect(credential).toBe(before.credentials[index]);
    });
    expect({ ok: true, inventory: after }).toEqual(
      loadInventory(edited(4, 'Deploys service 4', 'Deploys service four')),
    );
  });

  it('reports an error in the changed credential with its line and path, as a full load does', () => {
    const loader = new InventoryLoader();
    loaded(loader, text);
    const broken = edited(7, 'accessLevel: developer', 'accessLevel: admin');
    const result = loader.load(broken);

    expect(result).toEqual(loadInventory(broken));
    expect(result).toMatchObject({
      ok: false,
      errors: [expect.stringMatching(/^\d+:\d+: credentials\[7\]\.source\.accessLevel: /)],
    });
  });

  it('still applies the rules across credentials: an id the change makes a duplicate is refused', () => {
    const loader = new InventoryLoader();
    loaded(loader, text);
    const duplicate = edited(5, `id: ${fleetId(5)}`, `id: ${fleetId(2)}`);
    const result = loader.load(duplicate);

    expect(result).toEqual(loadInventory(duplicate));
    expect(result).toMatchObject({
      ok: false,
      errors: [
        expect.stringMatching(
          /^\d+:\d+: credentials\[5\]\.id: must be unique: credentials\[2\] has the same id$/,
        ),
      ],
    });
  });

  it('after a refused change, the next change is checked against the last good inventory', () => {
    const loader = new InventoryLoader();
    const before = loaded(loader, text);
    expect(loader.load(edited(1, 'owner: team-1', 'owner: ""')).ok).toBe(false);
    const after = loaded(loader, edited(1, 'owner: team-1', 'owner: team-one'));

    expect(loader.reused).toBe(COUNT - 1);
    expect(after.credentials[1]?.owner).toBe('team-one');
    expect(after.credentials[0]).toBe(before.credentials[0]);
  });
});
