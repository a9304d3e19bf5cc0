// Resolves the @asc/* path aliases of tsconfig.base.json against the compiled dist/ tree,
// so compiled apps, tools and tests import libraries by their public name.
const path = require('node:path');
const tsConfigPaths = require('tsconfig-paths');
const base = require('../../tsconfig.base.json');

tsConfigPaths.register({
  baseUrl: path.join(__dirname, '..', '..', 'dist'),
  paths: base.compilerOptions.paths,
});
