import { mintSupplierKey } from '../shared/domain/supplier-keys.js';

/**
 * What every local run shares, whether it runs the whole product (`npm start`, `npm run demo`)
 * or only what the app runs on (`npm run infra`): the demo suppliers, the clock, the
 * simulator's tenant and the app's host id. Kept apart from the stack so that the
 * infrastructure loads none of the app's functions.
 */

export const DEMO_SUPPLIERS = [
  { id: 'demo', name: 'Demo Supplier Ltd', allowedGroupTags: ['MPS-STD', 'MPS-KIOSK'], defaultGroupTag: 'MPS-STD' },
  { id: 'contoso', name: 'Contoso Ltd', allowedGroupTags: [], defaultGroupTag: 'MPS-STD' },
];

/**
 * The demo policy with a fresh upload key per supplier (their hashes in the policy), so the
 * upload API can be tried with curl at once: `npm start` publishes the keys in `.local/stack.json`,
 * `npm run infra` prints them.
 */
export function demoSupplierPolicy(): { readonly policy: string; readonly keys: Readonly<Record<string, string>> } {
  const minted = DEMO_SUPPLIERS.map((supplier) => ({ supplier, ...mintSupplierKey() }));
  return {
    policy: JSON.stringify(minted.map(({ supplier, sha256 }) => ({ ...supplier, uploadKeySha256: [sha256] }))),
    keys: Object.fromEntries(minted.map(({ supplier, key }) => [supplier.id, key])),
  };
}

/** Local default: one simulated hour of Autopilot waiting passes in one real minute. */
export const LOCAL_TIME_SCALE = 60;

/**
 * The clock of a local run: ZTP_TIME_SCALE when set; otherwise the built-in simulator's fast
 * clock, or real time for another Graph (the config refuses a fast clock for a Graph that is
 * no simulator). `npm start` and `npm run infra` both start their simulator on it.
 */
export function localTimeScale(env: Readonly<Record<string, string | undefined>>): number {
  return Number(env.ZTP_TIME_SCALE ?? (env.GRAPH_BASE_URL ? 1 : LOCAL_TIME_SCALE));
}

/** The local simulator's tenant: every tagged device gets a profile. */
export const SIMULATOR_PROFILE_RULES = [{ groupTag: '/.+/', profileName: 'Standard Autopilot profile' }];

/**
 * The app every local instance belongs to: instances on one storage account (`npm run infra`)
 * share the blob events and timers under it, as one Functions app's instances do.
 */
export const LOCAL_HOST_ID = 'ztp-local';
