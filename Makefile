# ThingBridge — the two commands: `make demo` and `make test`.
# Both install what they need (librdkafka-dev, sqlite, pkg-config) when it is missing.

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
DEMO_DATA ?= .demo-data

.PHONY: deps build demo test routes-check clean

# System packages. Installed only when missing, so repeated runs are quick and offline-safe.
deps:
	@if ! pkg-config --exists rdkafka 2>/dev/null || ! pkg-config --exists sqlite3 2>/dev/null; then \
		echo "installing system packages: librdkafka-dev libsqlite3-dev pkg-config"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq librdkafka-dev libsqlite3-dev pkg-config; \
	fi

build: deps
	$(SWIFT) build --product thingbridge

# The embedded default: the gateway with deploy/thingbridge.yaml, journal and file sinks in $(DEMO_DATA).
demo: build
	$(SWIFT) run thingbridge serve --config deploy/thingbridge.yaml --data $(DEMO_DATA)

# The test suite, then the shipped route files checked against the shipped config.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test
	$(SWIFT) run thingbridge routes check --config deploy/thingbridge.yaml

routes-check: build
	$(SWIFT) run thingbridge routes check --config deploy/thingbridge.yaml

clean:
	rm -rf .build $(DEMO_DATA)
