#!/usr/bin/env bash
# Build (`bash tools/site.sh build`) or build and serve (`bash tools/site.sh serve`, then open
# http://127.0.0.1:8000) the documentation site. Installs what the site needs first: the docs
# extra of the package (MkDocs, Material, mkdocstrings, graphviz) and MathJax from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import mkdocs, material, mkdocstrings" 2>/dev/null || pip install -q -e '.[docs]'
[ -f .cache/npm/node_modules/mathjax/es5/tex-chtml.js ] ||
    npm install --silent --no-save --no-package-lock --prefix .cache/npm mathjax@3.2.2
command -v dot >/dev/null || { echo "the graphs need Graphviz: apt-get install graphviz" >&2; exit 2; }
case "${1:-serve}" in
    build) mkdocs build --strict ;;
    serve) mkdocs serve --strict ;;
    *) echo "usage: tools/site.sh [build|serve]" >&2; exit 2 ;;
esac
