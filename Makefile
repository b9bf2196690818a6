# ThingBridge — the two commands: `make demo` and `make test`.
# Both install what they need (librdkafka-dev, sqlite, pkg-config) when it is missing.

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
DEMO_DATA ?= .demo-data
DEMO_ARGS ?=

.PHONY: deps build demo serve simulate test routes-check bench bench-memory clean

# System packages. Installed only when missing, so repeated runs are quick and offline-safe.
deps:
	@if ! pkg-config --exists rdkafka 2>/dev/null || ! pkg-config --exists sqlite3 2>/dev/null || ! command -v kcat >/dev/null; then \
		echo "installing system packages: librdkafka-dev libsqlite3-dev pkg-config kcat"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq librdkafka-dev libsqlite3-dev pkg-config kcat; \
	fi

build: deps
	$(SWIFT) build --product thingbridge

# The embedded default: simulator + gateway + devices + an in-process 3-broker Kafka (librdkafka's
# mock cluster, handed to the config's kafka sink as KAFKA_BROKERS), deploy/thingbridge.yaml, data in $(DEMO_DATA).
demo: build
	$(SWIFT) run thingbridge demo --data $(DEMO_DATA) $(DEMO_ARGS)

# The gateway alone, on deploy/thingbridge.yaml (post callbacks to it yourself). Its kafka sink produces to
# KAFKA_BROKERS (default 127.0.0.1:9092); with no broker there, those deliveries wait in the journal.
serve: build
	$(SWIFT) run thingbridge serve --config deploy/thingbridge.yaml --data $(DEMO_DATA)

# The ThingSpace simulator alone, on port 8090.
simulate: build
	$(SWIFT) run thingbridge simulate --port 8090

# The test suite. Before it: the shipped routes are checked and their tests (Routes/*.test.yaml) run, a short demo must journal and deliver
# everything its devices sent (twice, the second time on the first one's data folder), and (with Python) a client we did not write talks to the simulator.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) run thingbridge routes check --config deploy/thingbridge.yaml
	$(SWIFT) run thingbridge routes test --config deploy/thingbridge.yaml
	rm -rf .build/demo-check
	$(SWIFT) run thingbridge demo --duration 3 --rate 50 --data .build/demo-check \
		--listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --summary .build/demo-check.json
	# Again on the same data folder, as a user running `make demo` twice does: counts are this run's.
	$(SWIFT) run thingbridge demo --duration 2 --rate 50 --data .build/demo-check \
		--listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --summary .build/demo-check-again.json
	bash Tests/compat/run.sh .build/debug/thingbridge
	bash Tests/webhook/run.sh .build/debug/thingbridge
	$(SWIFT) test

routes-check: build
	$(SWIFT) run thingbridge routes check --config deploy/thingbridge.yaml
	$(SWIFT) run thingbridge routes test --config deploy/thingbridge.yaml

# Benchmarks: release builds, tables on standard output.
bench: deps
	$(SWIFT) build -c release --product DrainBenchmark
	.build/release/DrainBenchmark 100000 3
	bash Benchmarks/ingress/run.sh 10
	@command -v kcat >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq kcat; }
	$(SWIFT) build -c release --product KafkaBenchmark
	.build/release/KafkaBenchmark 100000 3 10 2000
	bash Benchmarks/webhook/run.sh 100000 16

# Memory (RSS) at a paced 5k callbacks/s, through a 10-minute sink outage and the drain after it
# (about 15 minutes; mounts a tmpfs for the sink, so it needs root or sudo).
bench-memory: deps
	bash Benchmarks/memory/run.sh 60 600 5000

clean:
	rm -rf .build $(DEMO_DATA)
