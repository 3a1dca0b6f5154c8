# PrefabTrace: `make run` sets up and serves the demo; `make test` sets up and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
WORKERS ?= 4
CLUSTER_PORT ?= 8080
FLASK := $(BIN)/flask --app app
VENDOR := construction/static/vendor

.PHONY: setup run serve test lint bench clean translations cluster cluster-down

$(VENV)/.installed: requirements.txt requirements-dev.txt scripts/system-packages.sh
	./scripts/system-packages.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

# The pages' browser libraries, from the npm registry, served from our static folder.
$(VENDOR)/.installed: package.json package-lock.json scripts/vendor-assets.sh
	./scripts/vendor-assets.sh
	touch $@

setup: $(VENV)/.installed $(VENDOR)/.installed
	$(BIN)/pybabel -q compile -d construction/translations

# Labels the demo signs point to where it is served, unless PUBLIC_BASE_URL says otherwise.
run: export PUBLIC_BASE_URL ?= http://127.0.0.1:$(PORT)
run: setup
	$(FLASK) db upgrade
	$(FLASK) demo load
	@echo "PrefabTrace: http://127.0.0.1:$(PORT)/  API docs: http://127.0.0.1:$(PORT)/api/v1/docs"
	@echo "Sign in to the pages as demo-site-supervisor, demo-factory-worker, demo-regulator..."
	@echo "  with the passwords in instance/demo-passwords.json"
	@echo "Demo API tokens (one per role): instance/demo-tokens.json"
	@# The supervisor runs gunicorn, the ledger sealer, the webhook deliverer (and RQ
	@# photo workers when Redis answers), restarting any that exits; Ctrl-C stops all.
	$(BIN)/python scripts/serve.py --port $(PORT) --workers $(WORKERS)

# The production shape on this machine, rendered from deploy/ (scripts/cluster.py): nginx on
# 127.0.0.1:$(CLUSTER_PORT), two gunicorn nodes, two RQ photo workers, the sealer, the
# deliverer, a PostgreSQL and a Redis of its own and an S3 server, all on loopback, in the
# background; API tokens in instance/cluster-tokens.json. nginx (with setup) and Redis are
# installed when missing (as root or with sudo); PostgreSQL's programs must be there.
cluster: setup
	@command -v redis-server >/dev/null || ./scripts/system-packages.sh redis-server
	$(BIN)/python scripts/cluster.py up --port $(CLUSTER_PORT)

# Stop everything `make cluster` started and remove its data (instance/cluster).
cluster-down:
	$(BIN)/python scripts/cluster.py down

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -rs

# After changing visible text: collect it and merge it into each language's catalog.
translations: setup
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k _pl:1c,2 -k t --no-location \
		-o construction/translations/messages.pot .
	$(BIN)/pybabel -q update -i construction/translations/messages.pot -d construction/translations

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/capture.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache node_modules $(VENDOR)
