// The lint gate (docs/adr/0013-lint-gate.md): duplicate imports, switch fall-through and lines over 120 columns (in
// src, test and scripts) fail `npm run lint`.
import stylistic from "@stylistic/eslint-plugin"
import tseslint from "typescript-eslint"

export default [
  { ignores: ["dist/**", "node_modules/**", "schema/**", "**/*.d.ts"] },
  {
    files: ["src/**/*.ts", "src/**/*.mjs", "test/**/*.ts", "scripts/**/*.ts", "scripts/**/*.mjs"],
    languageOptions: { parser: tseslint.parser, ecmaVersion: "latest", sourceType: "module" },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "no-duplicate-imports": "error",
      "no-fallthrough": "error"
    }
  },
  {
    files: ["src/**/*.ts", "test/**/*.ts", "scripts/**/*.ts", "scripts/**/*.mjs"],
    plugins: { "@stylistic": stylistic },
    rules: {
      "@stylistic/max-len": [
        "error",
        { code: 120, tabWidth: 2, ignoreUrls: true, ignoreRegExpLiterals: true, ignoreStrings: true, ignoreTemplateLiterals: true }
      ]
    }
  }
]
