# facegan: the two commands of the quick start, `make demo` and `make test`, set everything up on a
# fresh machine: a virtual environment in .venv, PyTorch (the CPU build where no GPU is present), the
# package with its extras, and, for the browser tests, Debian's Chromium, and for the PostgreSQL
# tests Debian's PostgreSQL server.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.facegan-installed
DEMO   ?= demo
DEMO_KIMG ?= 20

.PHONY: demo test test-fast lint bench clean help chromium postgresql

help:
	@echo "make demo       build a face dataset, train a small StyleGAN2 on the CPU, generate samples"
	@echo "make test       run the whole test suite"
	@echo "make test-fast  the suite without the slow and browser tests"
	@echo "make lint       ruff over src, tests and benchmarks"

$(STAMP): pyproject.toml scripts/install_torch.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	scripts/install_torch.sh $(PY)
	$(PY) -m pip install -q -e '.[all,dev]'
	touch $(STAMP)

# Headless Chromium for the browser tests (Debian's package; Playwright's own browser download does
# not work everywhere). Installed when we may (root); otherwise the browser tests say why they skip.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium not found and not root: browser tests will be skipped"; fi; }

# PostgreSQL for the storage tests on the second back-end and the load benchmark (Debian's package:
# the server binaries in /usr/lib/postgresql/<version>/bin and the `postgres` OS user). The tests
# start their own throw-away server (tests/pg_server.py); as root they run it as `postgres`, since
# PostgreSQL refuses to run as root. Without it the PostgreSQL tests fail under CI and skip elsewhere.
postgresql:
	@{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	      || echo "could not install postgresql: the PostgreSQL tests will fail under CI"; \
	  else echo "PostgreSQL not found and not root: the PostgreSQL tests will be skipped"; fi; }
	@if [ "$$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then \
	  useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres; fi

test: $(STAMP) chromium postgresql
	$(PY) -m pytest -q

test-fast: $(STAMP) postgresql
	$(PY) -m pytest -q -m "not slow and not browser"

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks

demo: $(STAMP)
	scripts/demo.sh $(PY) $(DEMO) $(DEMO_KIMG)

clean:
	rm -rf $(VENV) .pytest_cache
