# numi assist — the two commands of the README are `make run` and `make test`.
.PHONY: setup train run test test-fast validate lint types nlu-eval nlu-eval-hard emotion-eval-hard alerts-eval-hard leakage simulate nlu-compare alerts-eval lint-playbooks bench bench-stock bench-reminders bench-alerts screenshots clean cluster cluster-stop bench-cluster

setup:
	@scripts/bootstrap.sh

train: setup
	@scripts/train.sh >/dev/null

run: setup
	@scripts/run.sh

# rasa data validate (warnings fail) and the playbook lint; `make test` runs them first
validate: setup
	@scripts/validate.sh

# ruff (pyflakes, pycodestyle, bugbear) and mypy, configured in pyproject.toml; `make test` runs both
lint: setup
	@.venv/bin/ruff check .

types: setup
	@.venv/bin/mypy

# the unit tests alone: no Rasa server, no browser, no model, no PostgreSQL nor Redis (3-4 min on 2 cores)
test-fast: setup
	@scripts/test_fast.sh

lint-playbooks: setup
	@PYTHONPATH=. .venv/bin/python -m numi.playbooks.cli lint

nlu-eval: train
	@PYTHONPATH=. .venv/bin/python -m numi.nlu.evaluate --model $$(scripts/train.sh)

# the harder held-out set of a second author (issue 14), by register
nlu-eval-hard: train
	@mkdir -p results
	@PYTHONPATH=. .venv/bin/python -m numi.nlu.evaluate --model $$(scripts/train.sh) --data tests/nlu/heldout_hard.yml --min-macro-f1 0 --json results/nlu-heldout-hard.json

# the alert rules that a message's text decides, on tests/alerts/themes_heldout.yml
alerts-eval-hard: train
	@PYTHONPATH=. .venv/bin/python -m numi.alerts.evaluate --model $$(scripts/train.sh)

# the simulated customers (tests/simulated/customers.yml) on the real servers, with transcripts
simulate: train
	@PYTHONPATH=. NUMI_SECRET=$${NUMI_SECRET:-test-secret} .venv/bin/python -m tests.simulated.runner --transcripts

# training texts that copy a held-out one (and --fix: remove them from the training side)
leakage: setup
	@PYTHONPATH=. .venv/bin/python -m numi.nlu.leakage

emotion-eval-hard: setup
	@PYTHONPATH=. .venv/bin/python -m numi.signals eval tests/emotion/heldout_hard.yml

# every pipeline of config.yml and config/pipelines/, trained from scratch (about 25 min on 2 cores)
nlu-compare: setup
	@scripts/compare_pipelines.sh

alerts-eval: setup
	@PYTHONPATH=. .venv/bin/python -m numi.signals eval
	@PYTHONPATH=. NUMI_DATABASE_URL=sqlite:///var/churn-eval.db .venv/bin/python -m numi.churn

test: setup
	@scripts/test.sh

clean:
	rm -rf models results var .pytest_cache

bench: train
	@PYTHONPATH=. .venv/bin/python scripts/bench.py

# the stock `rasa init` bot, measured the same way (trained once into models/stock/)
bench-stock: setup
	@PYTHONPATH=. .venv/bin/python scripts/bench_stock.py

bench-reminders: setup
	@PYTHONPATH=. .venv/bin/python scripts/bench_reminders.py

bench-alerts: setup
	@PYTHONPATH=. .venv/bin/python scripts/bench_alerts.py

# the README's screenshots, taken by the browser tests (tests/browser/)
screenshots: train
	@PYTHONPATH=. .venv/bin/python -m pytest -q tests/browser/
	@mkdir -p docs/screenshots && cp artifacts/screenshots/*.png docs/screenshots/

# the scale-out topology on one machine: NUMI_RASA_REPLICAS Rasa and NUMI_REPLICAS numi processes
# behind HAProxy on NUMI_LB_URL (deploy/cluster.env); returns once it answers, `make cluster-stop` stops it
cluster: setup
	@PYTHONPATH=. .venv/bin/python -m numi.cluster start

cluster-stop:
	@PYTHONPATH=. .venv/bin/python -m numi.cluster stop

# the cluster under load (1 and 2 Rasa replicas at 10, 50, 100 conversations), then kill -9 of a Rasa
# replica and of the scheduler's numi process under load: results/bench-cluster.json (about 15 min)
bench-cluster: setup
	@PYTHONPATH=. .venv/bin/python scripts/bench_cluster.py
