// Builds the federated extension with the builder in node_modules, against the core of the JupyterLab
// that is installed (its staging directory), into ../../aiex_kernel/labextension (package.json's outputDir).
const { execFileSync } = require('child_process');
const path = require('path');

const python = process.env.PYTHON || 'python3';
const staging = execFileSync(python, ['-c',
  'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))'
]).toString().trim();
execFileSync('node', [
  require.resolve('@jupyterlab/builder/lib/build-labextension.js'),
  '--core-path', staging, path.resolve(__dirname)
], { stdio: 'inherit' });
