/**
 * Resolves a compiled file for code that must start a new thread or process.
 * Under vitest, modules run from TypeScript source, which a worker or a child
 * `node` cannot load; `npm test` compiles first, so the compiled file is used.
 */
export function distFile(fromModule: string, relative: string): URL {
  const here = new URL(fromModule);
  if (!here.pathname.endsWith('.ts')) return new URL(relative, here);
  // Source file: map <root>/<dir>/<file>.ts to <root>/dist/<dir>/<relative>.
  const root = new URL('../', here);
  const dir = here.pathname.slice(root.pathname.length).split('/').slice(0, -1).join('/');
  return new URL(`dist/${dir ? `${dir}/` : ''}${relative}`, root);
}
