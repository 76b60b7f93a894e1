# The README's two commands are `make run` and `make test`; everything else is a helper.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export RASA_TELEMETRY_ENABLED ?= false
export TF_CPP_MIN_LOG_LEVEL ?= 2
export TF_ENABLE_ONEDNN_OPTS ?= 0
export SQLALCHEMY_SILENCE_UBER_WARNING ?= 1
export PYTHONWARNINGS ?= ignore::DeprecationWarning
# uv trusts the system certificate store (machines behind a TLS-inspecting proxy need it).
export UV_SYSTEM_CERTS ?= 1

# uv from PATH, else a private copy installed from PyPI into .tools/ (no curl installer:
# machines without general internet still reach PyPI).
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --locked

.PHONY: help install secrets catalogue train fetch-models migrate admin run run-cluster chat call pbx-call test screenshots bench tts-warm eval-nlu validate clean

help:
	@echo "make run       install, train, migrate, start Rasa (5005), actions (5055), API (8000), voice (8080, kiosk at /kiosk, AudioSocket 9092)"
	@echo "make run-cluster  the same as a cluster: HAProxy on those ports, 2× Rasa/actions/API/voice, PostgreSQL, Redis"
	@echo "make test      install, train if needed, run every test"
	@echo "make chat      talk to the running assistant in this terminal"
	@echo "make call SAY=\"我的社保卡丢了怎么补办\"  place a simulated phone call on the running service"
	@echo "make pbx-call SAY=…     the same call as a PBX places it (Asterisk AudioSocket, port 9092)"
	@echo "make train     train the model and build the speech files if their inputs changed (models/)"
	@echo "make fetch-models  download and check the Vosk Chinese model (var/models/)"
	@echo "make eval-nlu  intents on the held-out sets, 5-fold cross-validation, with and without pinyin (about 1.5 h)"
	@echo "make bench     latency, throughput, load and memory benchmarks (bench/results/; about 2 h)"
	@echo "make tts-warm  pre-render every fixed sentence into the speech cache"
	@echo "make catalogue regenerate NLU synonyms and Jieba terms from the catalogue"
	@echo "make migrate   apply database migrations and load reference data"
	@echo "make admin     create the web console's first administrator (asks for a password)"
	@echo "make screenshots  refresh the console screenshots in docs/screenshots/"

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

install: | $(UV)
	@bash tools/ensure-debian-packages.sh
	$(UV) sync --locked
	@# axe-core for the console's accessibility tests (npm registry; no browser download)
	@[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error

catalogue: install
	$(RUN) python -m catalogue.export

# The speech files are built beside the Rasa training (one core each): a fresh machine's
# first start is that much shorter. Either failing fails the target.
train: install
	$(RUN) python -m catalogue.export --check
	@$(RUN) python -m voice.asr.build & speech=$$!; \
	$(RUN) python -m tools.model; model=$$?; \
	wait $$speech; speech=$$?; \
	[ $$model -eq 0 ] && [ $$speech -eq 0 ]

# The deployment speech model (Vosk, Chinese): size and SHA-256 checked before unpacking.
fetch-models: install
	$(RUN) python -m voice.asr.fetch

migrate: install
	$(RUN) python -m proxy_service.migrate

admin: migrate
	$(RUN) python -m proxy_service.web.create_admin

# Every secret first: made once into var/secrets.env on a development machine; with
# HELPLINE_ENV=production checked in the environment, and nothing starts when one is wrong.
secrets: install
	$(RUN) python -m contract.secrets

run: secrets train migrate
	@echo
	@echo "  Rasa REST: curl -s localhost:5005/webhooks/rest/webhook -d '{\"sender\":\"me\",\"message\":\"你好\"}'"
	@echo "  Or chat in another terminal: make chat      (Ctrl-C here stops everything)"
	@echo "  Web console: http://localhost:8000/login   (first time: make admin)"
	@echo "  Service API: http://localhost:8000/api (token: SERVICE_TOKEN in var/secrets.env)"
	@echo
	$(RUN) honcho start -f Procfile

# Two of each behind HAProxy, PostgreSQL and Redis, under supervisord (tools/cluster.py). The
# console's first administrator: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/helpline make admin
run-cluster: secrets train
	@echo
	@echo "  The same addresses as make run, through the balancer; logs: var/cluster/logs/ (Ctrl-C stops everything)"
	@echo
	$(RUN) python -m tools.cluster

chat: install
	$(RUN) python -m tools.chat

# A phone call through the running gateway, the way Twilio places one (signed webhook, Media
# Streams); prints what the bot understood and said, and where the bot's audio is.
SAY ?= 我的社保卡丢了，要怎么补办？
call: install
	@$(RUN) python -m voice.call_simulator --say "$(SAY)"

# The same through the gateway's AudioSocket port, the way Asterisk's AudioSocket() calls.
pbx-call: install
	@$(RUN) python -m voice.pbx_simulator --say "$(SAY)"

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
test: train
	@bash tools/ensure-postgres.sh || echo "warning: PostgreSQL tests will fail (see above)"
	@bash tools/ensure-redis.sh || echo "warning: Redis and cluster tests will fail (see above)"
	@$(RUN) pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

screenshots: train
	@bash tools/ensure-postgres.sh
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(RUN) pytest tests/console/browser tests/voice/test_kiosk_page.py -q

bench: train
	@bash tools/ensure-postgres.sh
	$(RUN) python -m bench.assistant_latency
	$(RUN) python -m bench.api_throughput
	$(RUN) python -m bench.console_pages
	$(RUN) python -m bench.recognition --json bench/results/recognition.json
	$(RUN) python -m bench.voice_latency
	$(RUN) python -m bench.cluster_load
	$(RUN) python -m bench.surge

tts-warm: install
	$(RUN) python -m voice.tts_warm

eval-nlu: train
	$(RUN) python -m tools.eval_nlu --update-readme --without-pinyin --cross-validation --keep-models var/models-compare

validate: install
	$(RUN) rasa data validate --config assistant/config.yml --domain assistant/domain --data nlu_data

clean:
	rm -rf .pytest_cache var/test reports/.tmp
