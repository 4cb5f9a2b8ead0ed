# The incident console's one JavaScript library: htmx, pinned in
# ingress/console/assets/package.json and package-lock.json, installed with
# npm ci and copied into ingress/console/static (embedded; the copy stays in
# the tree so go build works from a clone). make test depends on ui-assets, and
# TestEmbeddedHTMXIsThePinnedOne (under CI=true) holds the two copies equal.

UI_ASSETS := $(CURDIR)/ingress/console/assets

.PHONY: ui-assets

ui-assets:
	@command -v npm >/dev/null || { echo "npm not found: install Node.js (npm) to vendor htmx for the console" >&2; exit 1; }
	@echo "==> npm ci in ingress/console/assets (htmx.org $$(sed -n 's/.*"htmx.org": *"\([^"]*\)".*/\1/p' $(UI_ASSETS)/package.json), pinned by package-lock.json)"
	@cd $(UI_ASSETS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@echo "==> cp node_modules/htmx.org/dist/htmx.min.js ingress/console/static/htmx.min.js"
	@cp $(UI_ASSETS)/node_modules/htmx.org/dist/htmx.min.js $(CURDIR)/ingress/console/static/htmx.min.js
