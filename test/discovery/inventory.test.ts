import { oneCredentialInventory } from '../helpers/inventory';

/** An inventory of one GitLab credential, with a discovery block. */
const withDiscovery = (discovery: object) => oneCredentialInventory({}, {}, { discovery });

describe('the inventory discovery block', () => {
  it('takes durations and watched groups, organizations and repositories', () => {
    const loaded = withDiscovery({
      expiryWarning: '14d',
      watch: [{ gitlab: 'sim', group: 'platform/infra' }],
    });
    expect(loaded.ok ? loaded.inventory.discovery : loaded.errors).toEqual({
      expiryWarning: 14 * 86_400_000,
      horizon: 90 * 86_400_000,
      horizonCliff: 10,
      watch: [{ gitlab: 'sim', group: 'platform/infra' }],
    });
  });

  it('refuses a watched provider the inventory does not define, and a cliff that is no count, naming each', () => {
    const loaded = withDiscovery({ horizonCliff: 0, watch: [{ github: 'nowhere', organization: 'acme' }] });
    expect(loaded.ok ? [] : loaded.errors).toEqual([
      expect.stringContaining('discovery.horizonCliff: expected a whole number of tokens'),
      expect.stringContaining(
        'discovery.watch[0].github: expected the name of a provider under providers.github (none is defined)',
      ),
    ]);
  });
});
