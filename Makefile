# The two commands: `make run` and `make test`. Both install what is missing first.
.PHONY: setup fonts run test lint catalogs extract update compile new-locale doctor readme-image clean check preview

VENV := .venv/bin
# The sample records are keyed to this as-of date (see data/samples/README.md).
AS_OF ?= 2026-11-20
SAMPLES := data/samples/accounts.csv data/samples/accounts.yaml

setup:
	@bash scripts/setup.sh

# Rebuild the prepared fonts (setup builds them when missing or stale).
fonts: setup
	$(VENV)/python scripts/build_fonts.py --force

run: setup
	$(VENV)/dunning run $(SAMPLES) --as-of $(AS_OF)    # into output/$(AS_OF)/, ledger output/ledger.sqlite

test: setup
	$(VENV)/dunning check    # every template x stage x locale x brand x sample (docs/preview.md)
	$(VENV)/python -m pytest -q

doctor: setup
	$(VENV)/dunning doctor

check: setup
	$(VENV)/dunning check

preview: setup
	$(VENV)/dunning preview --port $(or $(PORT),8000)

lint: setup
	$(VENV)/python -m pip install -q -e '.[dev]'
	$(VENV)/ruff check src tests
	$(VENV)/mypy

# Message catalogs: extract from templates and code, merge into each locale's .po, compile.
# New entries arrive with an empty msgstr; removed ones stay as `#~` (obsolete) entries for
# reuse. tests/test_catalogs.py fails until every entry is translated and no `#~` is left.
# A new locale: make new-locale LOCALE=xx_YY (see docs/locales.md).
catalogs: extract update compile

extract: setup
	$(VENV)/pybabel extract -F babel.cfg -o locales/messages.pot --no-location --omit-header --sort-output -w 100 .

update: setup
	$(VENV)/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching -w 100

compile: setup
	$(VENV)/pybabel compile -d locales -D messages --statistics

new-locale: setup
	@test -n "$(LOCALE)" || { echo "usage: make new-locale LOCALE=xx_YY"; exit 2; }
	$(VENV)/pybabel init -i locales/messages.pot -d locales -D messages -l $(LOCALE) -w 100

readme-image: run
	pdftoppm -png -r 70 -f 1 -l 1 -singlefile output/$(AS_OF)/mingtai/formal/MT-000004.pdf docs/sample-letter

clean:
	rm -rf output/*/ .pytest_cache .hypothesis
