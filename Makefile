# The two front-door commands: `make demo` and `make test`. Both install what is missing.
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
ENV ?= sandbox
# `make demo PROFILE=allodoc`: the sandbox shaped like a reference system (dicom-viewer,
# horalix-view, allodoc, spherosegv4, regulatory-assistant), its inventory written to
# environments/sandbox-<profile>.yml and checked instead of environments/sandbox.yml.
PROFILE ?=
DEMO_ENV := $(if $(PROFILE),sandbox-$(PROFILE),$(ENV))

.PHONY: install demo test sandbox-up sandbox-down report lint catalog bench

install:
	@bash scripts/install.sh

sandbox-up: install
	$(PY) -m opsverify.sandbox up $(if $(PROFILE),--profile $(PROFILE) --inventory-out environments/sandbox-$(PROFILE).yml)

sandbox-down:
	$(PY) -m opsverify.sandbox down

# Bring the sandbox up, run the daily checks against it, write the report.
demo: sandbox-up
	$(PYTEST) -m daily --env $(DEMO_ENV) -n auto; status=$$?; \
	$(MAKE) --no-print-directory report; exit $$status

report:
	@bash scripts/report.sh

# The self-tests: unit tests, the sandbox and the fault matrix.
test: install
	$(PYTEST) tests -p no:randomly -n 2 --dist loadfile

lint: install
	$(VENV)/bin/ruff check opsverify fixtures checks tests bench conftest.py

catalog: install
	$(PYTEST) --catalog reports/catalog

bench: install
	$(PY) -m bench
