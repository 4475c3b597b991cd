import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Layer rules: which part of the tree may import which. They use ESLint's own
// no-restricted-imports: in ESLint 9 it tells `import type` apart (allowTypeImports, needed for
// the services) and sees `import x = require()`. eslint-plugin-boundaries or eslint-plugin-import's
// no-restricted-paths would resolve paths, but each adds a dependency and a resolver for nothing
// the built-in rule cannot say here.
//
// The rule matches the specifier as written, so relative imports are recognised by the folder
// or module names they go through (`../adapters/`, `../../config.js`); those names are unique
// in the tree. When several config objects set one rule for a file, the last one replaces the
// options rather than merging them, so each layer below lists all of its patterns and a file
// matches one layer (shared/errors.ts, also a root file, gets the stricter block that follows).

/** Azure and Graph SDKs: only the adapters talk to the outside world. */
const sdk = {
  regex: '^@(azure|microsoft)/',
  message: 'Only shared/adapters/ may import Azure or Graph SDKs (type-only imports too); go through a port or an adapter.',
};

/** Folders that sit on top of shared/ (and ship separately, or not at all). */
const aboveShared = {
  regex: '^(\\.\\./)+(local|cli|bench|test|functions)/',
  message:
    'shared/ is what the function app runs: it must not import local/, cli/, bench/, test/ or functions/ (function files register triggers when imported).',
};

/** The composition root wires the adapters in, so they must not start from it. */
const compositionRoot = {
  regex: '^(\\.\\.?/)+(runtime|policies)\\.js$',
  message: 'shared/runtime.ts and shared/policies.ts are the composition root: only functions/, local/, bench/ and test/ start from them.',
};

/** Shared-root modules and layers named by a relative import, e.g. `../../config.js`. */
const sharedModules = (names, message) => ({ regex: `^(\\.\\./)+(${names.join('|')})\\.js$`, message });
const sharedFolders = (names, message) => ({ regex: `^\\.\\.?/(.*/)?(${names.join('|')})/`, message });

/** Any package that is not in the list; relative imports are left to the other patterns. */
const packagesExcept = (allowed, message) => ({ regex: `^(?!\\.\\.?/)(?!(${allowed.join('|')})$)`, message });

const layer = (files, patterns) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns }] } });

const layers = [
  layer(
    ['shared/domain/**'],
    [
      // node:crypto for hashing (a batch id), which is computation, not I/O.
      packagesExcept(
        ['zod', 'csv-parse(/.*)?', 'iconv-lite', 'node:buffer', 'node:crypto'],
        'shared/domain/ is pure code: besides domain files and shared/errors.ts it may import zod, csv-parse, iconv-lite, node:buffer and node:crypto only (no I/O, no SDKs).',
      ),
      sharedFolders(
        ['services', 'adapters', 'messages'],
        'shared/domain/ is the bottom layer: it must not import services, adapters or messages.',
      ),
      sharedModules(
        ['config', 'runtime', 'policies', 'log', 'events'],
        'shared/domain/ is the bottom layer: of the shared root it may import errors.ts only (no config, runtime, policies, log or events).',
      ),
      aboveShared,
    ],
  ),
  layer(
    ['shared/messages/**'],
    [
      packagesExcept(['zod', 'node:crypto'], 'shared/messages/ holds contracts: it may import the domain, zod and node:crypto only.'),
      sharedFolders(
        ['services', 'adapters'],
        'shared/messages/ holds contracts: services and adapters import it, not the other way round.',
      ),
      sharedModules(
        ['config', 'runtime', 'policies', 'log', 'events'],
        'shared/messages/ holds contracts: no config, runtime, policies, log or events.',
      ),
      aboveShared,
    ],
  ),
  layer(
    ['shared/services/**'],
    [
      sdk,
      {
        // Types (a Readable in a port) describe what an adapter hands over; doing the I/O is the adapter's job.
        regex: '^(node:)?(fs|fs/promises|net|http|https|http2|tls|dgram|dns|dns/promises|child_process|cluster|worker_threads|os)$',
        allowTypeImports: true,
        message: 'shared/services/ does no I/O of its own: use a port (type-only imports of node: modules are fine).',
      },
      sharedFolders(['adapters'], 'shared/services/ owns the ports; the adapters implement them and the composition root wires them in.'),
      sharedModules(
        ['config', 'runtime', 'policies'],
        'shared/services/ gets its settings through its deps, not from config, policies or the runtime.',
      ),
      aboveShared,
    ],
  ),
  layer(['shared/adapters/**'], [compositionRoot, aboveShared]),
  layer(['shared/*.ts'], [sdk, aboveShared]),
  layer(
    ['shared/errors.ts'],
    [{ regex: '.', message: 'shared/errors.ts is imported by every layer, the domain included, so it imports nothing.' }],
  ),
  layer(
    ['functions/**'],
    [
      {
        regex: '^@(azure/(?!functions$)|microsoft/)',
        message: 'functions/ may import @azure/functions only; other SDKs are reached through shared/runtime.ts and the adapters.',
      },
      {
        regex: '^(\\.\\./)+(local|cli|bench|test)/',
        message: 'functions/ is deployed: it must not import local/, cli/, bench/ or test/.',
      },
    ],
  ),
  layer(
    ['cli/**'],
    [
      { ...sdk, message: 'cli/ reaches storage through shared/adapters/, not SDKs directly.' },
      {
        regex: '^(\\.\\./)+(local|bench|test|functions)/',
        message:
          'cli/ must not import local/ (the local stack and its test doubles), bench/, test/ or functions/; what the stack and the CLI share lives in cli/.',
      },
    ],
  ),
  {
    // The import rule does not see import() or `typeof import('...')`, which would slip past the layers.
    files: ['shared/**', 'functions/**', 'cli/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'ImportExpression', message: 'Use a static import so the layer rules can check it.' },
        { selector: 'TSImportType', message: 'Use `import type` so the layer rules can check it.' },
      ],
    },
  },
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.local/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  ...layers,
);
