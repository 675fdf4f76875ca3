import preact from "@preact/preset-vite";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [preact()],
  base: "./",
  build: { outDir: "dist", sourcemap: false, target: "es2020" },
  // amazon-cognito-identity-js expects Node's `global`.
  define: { global: "globalThis" },
  test: {
    environment: "jsdom",
    globals: true,
    include: ["test/**/*.test.ts", "test/**/*.test.tsx"],
  },
});
