# Python tools in a git-ignored virtualenv (.venv): ElastAlert2, which the
# rules bench runs side by side with irflow's evaluator on the same OpenSearch
# node, and moto's server (fake AWS APIs). Included from the main Makefile.
# Needs python3 with the venv module (apt-get install python3-venv).

PYTHON       ?= python3
VENV         := $(CURDIR)/.venv
VENV_PYTHON  := $(VENV)/bin/python
# Pinned; elastalert2 itself pins elasticsearch==7.10.1, whose client talks to
# OpenSearch 2.x (ElastAlert2 reads the "opensearch" distribution from GET /).
# pytz: elastalert2 2.19.0 imports it without declaring it.
PYTHON_PACKAGES := elastalert2==2.19.0 elasticsearch==7.10.1 pytz==2025.2 moto[server]==5.2.5

.PHONY: venv venv-clean

venv: $(VENV)/.installed

$(VENV)/.installed: mk/python.mk
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.9+ (apt-get install python3 python3-venv)" >&2; exit 1; }
	@echo "==> creating the Python venv (.venv) for moto/elastalert2"
	@test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	@$(VENV_PYTHON) -m pip install -q --disable-pip-version-check $(PYTHON_PACKAGES)
	@touch $@

venv-clean:
	rm -rf $(VENV)
