import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'data/**', 'node_modules/**', 'coverage/**', 'src/keda/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'describe', property: 'only', message: 'Do not commit .only' },
        { object: 'it', property: 'only', message: 'Do not commit .only' },
        { object: 'test', property: 'only', message: 'Do not commit .only' },
      ],
    },
  },
  {
    // The status page: a plain browser script, no bundler (globals listed, not imported: the
    // `globals` package is not a dependency of ours).
    files: ['src/exporter/status-page/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'fetch',
          'FormData',
          'URL',
          'Option',
          'Intl',
          'getComputedStyle',
          'setTimeout',
          'clearTimeout',
          'sessionStorage',
          'location',
          'URLSearchParams',
          'CustomEvent',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
