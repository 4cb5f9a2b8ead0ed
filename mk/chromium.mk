# Chromium, which the incident console's browser test drives through the
# DevTools protocol (github.com/chromedp/chromedp, test code only). Included
# from the main Makefile; make test depends on chromium. Debian's package;
# IRFLOW_CHROMIUM names another binary.

APT := $(strip $(shell [ "$$(id -u)" = 0 ] || echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get)

.PHONY: chromium

chromium:
	@if [ -n "$$IRFLOW_CHROMIUM" ]; then test -x "$$IRFLOW_CHROMIUM" || { echo "IRFLOW_CHROMIUM=$$IRFLOW_CHROMIUM is not an executable" >&2; exit 1; }; \
	elif ! command -v chromium >/dev/null; then \
	  command -v apt-get >/dev/null || { echo "chromium not found and no apt-get: install Chromium or set IRFLOW_CHROMIUM=/path/to/chromium" >&2; exit 1; }; \
	  echo "==> installing Debian's chromium package for the console's browser test: $(APT) update && $(APT) install -y chromium"; \
	  $(APT) update -q && $(APT) install -y -q chromium && chromium --version; \
	fi
