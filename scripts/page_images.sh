#!/usr/bin/env bash
# Regenerate the demo exhibit's page images in docs/ (issue 13 item 9: layout changes stay reviewable).
# Runs `forensics demo` in a scratch folder, builds the zh exhibit beside the zh-en one, and renders the
# cover, the first check page and the zh purpose-of-proof page with pdftoppm (poppler-utils, set-up installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export FORENSICS_KEY_DIR="$scratch/keys"
.venv/bin/forensics demo -o "$scratch/demo" >/dev/null 2>&1
.venv/bin/forensics exhibit "$scratch/demo/case" --lang zh -o "$scratch/zh" >/dev/null
zhen="$scratch/demo/exhibit/exhibit.pdf"
zh="$scratch/zh/exhibit.pdf"

# first page whose text holds $2 (a heading), 1-based
page_of() {
    local pages text
    pages=$(pdfinfo "$1" 2>/dev/null | awk '/^Pages:/ {print $2}')
    for ((p = 1; p <= pages; p++)); do
        # read the page whole first: `grep -q` on a pipe would SIGPIPE pdftotext, a failure under pipefail
        text=$(pdftotext -f "$p" -l "$p" "$1" - 2>/dev/null)
        if grep -q "$2" <<<"$text"; then echo "$p"; return; fi
    done
    echo "no page of $1 holds '$2'" >&2
    exit 1
}

render() {  # pdf page out.png
    [ -n "$2" ] || { echo "no page to render for $3" >&2; exit 1; }
    pdftoppm -png -r 80 -f "$2" -l "$2" -singlefile "$1" "${3%.png}" 2>/dev/null
}

render "$zhen" 1 docs/exhibit-cover.png
render "$zhen" "$(page_of "$zhen" '^5\.2 unmasked-view')" docs/exhibit-check.png
render "$zh" "$(page_of "$zh" '^1 证明目的')" docs/exhibit-zh-purpose.png
render "$zh" "$(page_of "$zh" '^5\.2 unmasked-view')" docs/exhibit-zh-check.png
echo "docs/exhibit-{cover,check,zh-purpose,zh-check}.png regenerated"
