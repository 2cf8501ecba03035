#!/bin/sh
# Refresh the GraphiQL build that `broadcaster serve` ships at /graphiql (broadcaster/api/static/).
#
# Needs npm, once, on the machine of whoever refreshes; installing or running broadcaster never does:
# the built files are committed. GraphiQL 4.1 is the last release with a browser-ready build
# (graphiql.min.js, a UMD bundle on the React and ReactDOM globals); 5.x ships ES modules for a
# bundler only. React 19 has no UMD build, so React stays on 18.
#
#   sh tools/refresh-graphiql.sh [GRAPHIQL_VERSION] [REACT_VERSION]
set -eu
GRAPHIQL=${1:-4.1.2}
REACT=${2:-18.3.1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/broadcaster/api/static"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null
for archive in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
    package=${archive%-*}
    mkdir "$package"
    tar xzf "$archive.tgz" -C "$package"
done

rm -rf "$DEST"
mkdir -p "$DEST/graphiql" "$DEST/react" "$DEST/react-dom"
cp graphiql/package/graphiql.min.js graphiql/package/graphiql.min.css graphiql/package/LICENSE "$DEST/graphiql/"
cp react/package/umd/react.production.min.js react/package/LICENSE "$DEST/react/"
cp react-dom/package/umd/react-dom.production.min.js react-dom/package/LICENSE "$DEST/react-dom/"
# the source-map comments point at files we do not ship; a browser would ask for them
sed -i '/^\/\/# sourceMappingURL=/d; s#/\*\# sourceMappingURL=[^*]*\*/##' \
    "$DEST/graphiql/graphiql.min.js" "$DEST/graphiql/graphiql.min.css"
{
    echo "graphiql $GRAPHIQL"
    echo "react $REACT"
    echo "react-dom $REACT"
} > "$DEST/VERSIONS"
echo "refreshed $DEST:"
cat "$DEST/VERSIONS"
