#!/usr/bin/env bash
# Install whatever is missing, and nothing else: Debian packages (Pango, HarfBuzz subsetting,
# CJK fonts, poppler-utils, qpdf, NSS's certutil), the .venv, the project in it, and the
# compiled message catalogs.
# Idempotent; takes about a second when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  libpango-1.0-0 libpangoft2-1.0-0   # WeasyPrint's text layout
  libharfbuzz-subset0                # fast font subsetting (without it CJK letters take ~12 s)
  fontconfig fonts-noto-cjk          # CJK faces (Noto Serif/Sans CJK SC/TC/HK)
  fonts-noto-core                    # Latin faces
  poppler-utils                      # pdftotext/pdftoppm: tests and the README picture
  qpdf                               # qpdf --check: structure of archive PDFs and print files
  postgresql                         # server binaries: the tests start a private ledger server
  chromium                           # the preview's browser tests (Playwright drives it)
  zbar-tools                         # zbarimg: tests decode the printed QR code independently
  libnss3-tools                      # certutil: the tests give pdfsig a trust store with the test CA
)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fc-cache -f >/dev/null 2>&1 || true
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup: Python >= 3.11 needed, $PYTHON is $("$PYTHON" --version 2>&1)" >&2; exit 2; }
[ -x .venv/bin/python ] || { echo "setup: creating .venv"; "$PYTHON" -m venv .venv; }

# Reinstall only when the dependency list changed.
stamp=".venv/.dunning-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  echo "setup: installing the project into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test,cluster,preview,postgres,service,signing]'
  rm -f .venv/.dunning-*; touch "$stamp"
fi

# Compile catalogs whose .mo is missing or older than the .po.
for po in locales/*/LC_MESSAGES/*.po; do
  [ -e "$po" ] || continue
  mo="${po%.po}.mo"
  if [ ! -e "$mo" ] || [ "$po" -nt "$mo" ]; then
    .venv/bin/pybabel -q compile -i "$po" -o "$mo"
  fi
done

# Prepared fonts (src/dunning/fonts.py): subsets of the installed CJK and Latin faces that keep
# letters fast and small. A few minutes the first time; silent and quick when up to date.
[ -e templates/assets/fonts/fonts.json ] || echo "setup: preparing fonts (a few minutes, once)"
.venv/bin/python scripts/build_fonts.py
