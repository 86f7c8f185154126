// Lint: ESLint's recommended rules and typescript-eslint's, over the TypeScript sources, tests
// and bench. Formatting is Prettier's (npm run format), not the linter's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'models/', 'runs/', 'test-output/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_name` marks a parameter or binding kept on purpose (an interface's argument, a destructured leftover)
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // JSON bodies from the real server are read loosely in tests
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
