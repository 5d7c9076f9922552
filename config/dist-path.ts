/**
 * Resolves a compiled file for code that must start a new thread or process.
 * Under vitest, modules run from TypeScript source, which a worker or a child
 * `node` cannot load; `npm test` compiles first, so the compiled file is used.
 */
export function distFile(fromModule: string, relative: string): URL {
  const here = new URL(fromModule);
  if (!here.pathname.endsWith('.ts')) return new URL(relative, here);
  // Source file: map <root>/<dirs>/<file>.ts to <root>/dist/<dirs>/<relative>, at any depth
  // (dev/local/ sits two levels down). This helper is source too, one level below the root.
  const root = new URL('../', import.meta.url);
  if (!here.href.startsWith(root.href)) throw new Error(`${here.pathname} is outside the project at ${root.pathname}`);
  return new URL(relative, new URL(`dist/${here.href.slice(root.href.length)}`, root));
}
