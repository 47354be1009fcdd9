#!/usr/bin/env bash
# Regenerate the demo exhibit's page images in docs/ (issue 13 item 9: layout changes stay reviewable).
# Runs `forensics demo` in a scratch folder, builds the zh exhibit beside the zh-en one, and renders the
# cover, the first check page and the zh purpose-of-proof page with pdftoppm (poppler-utils, set-up installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export FORENSICS_KEY_DIR="$scratch/keys"
.venv/bin/forensics demo -o "$scratch/demo" >/dev/null
case_dir=$(dirname "$(find "$scratch/demo" -name case.toml -path '*/case/*' | head -1)")
.venv/bin/forensics exhibit "$case_dir" --lang zh -o "$scratch/zh" >/dev/null
zhen=$(find "$case_dir/exhibits" -name '*.pdf' ! -name '*unmasked*' | head -1)
zh=$(find "$scratch/zh" -name '*.pdf' ! -name '*unmasked*' | head -1)

# first page whose text holds $2 (a heading), 1-based
page_of() {
    local pages
    pages=$(pdfinfo "$1" | awk '/^Pages:/ {print $2}')
    for ((p = 1; p <= pages; p++)); do
        if pdftotext -f "$p" -l "$p" "$1" - | grep -q "$2"; then echo "$p"; return; fi
    done
    echo "no page of $1 holds '$2'" >&2
    exit 1
}

render() {  # pdf page out.png
    pdftoppm -png -r 80 -f "$2" -l "$2" -singlefile "$1" "${3%.png}"
}

render "$zhen" 1 docs/exhibit-cover.png
render "$zhen" "$(page_of "$zhen" 'unmasked-view')" docs/exhibit-check.png
render "$zh" "$(page_of "$zh" '证明目的')" docs/exhibit-zh-purpose.png
render "$zh" "$(page_of "$zh" 'unmasked-view')" docs/exhibit-zh-check.png
echo "docs/exhibit-{cover,check,zh-purpose,zh-check}.png regenerated"
