# facegan: the two commands of the quick start, `make demo` and `make test`, set everything up on a
# fresh machine: a virtual environment in .venv, PyTorch (the CPU build where no GPU is present), the
# package with its extras, and, for the browser tests, Debian's Chromium.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.facegan-installed
DEMO   ?= demo
DEMO_KIMG ?= 20

.PHONY: demo test test-fast lint bench clean help

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

test: $(STAMP) chromium
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not browser"

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks

demo: $(STAMP)
	scripts/demo.sh $(PY) $(DEMO) $(DEMO_KIMG)

clean:
	rm -rf $(VENV) .pytest_cache
