# numi assist — the two commands of the README are `make run` and `make test`.
.PHONY: setup train run test validate nlu-eval lint-playbooks bench bench-reminders clean

setup:
	@scripts/bootstrap.sh

train: setup
	@scripts/train.sh >/dev/null

run: setup
	@scripts/run.sh

validate: setup
	@PYTHONPATH=. .venv/bin/python scripts/validate_data.py

lint-playbooks: setup
	@PYTHONPATH=. .venv/bin/python -m numi.playbooks.cli lint

nlu-eval: train
	@PYTHONPATH=. .venv/bin/python -m numi.nlu.evaluate --model $$(scripts/train.sh)

test: setup
	@scripts/test.sh

clean:
	rm -rf models results var .pytest_cache

bench: train
	@PYTHONPATH=. .venv/bin/python scripts/bench.py

bench-reminders: setup
	@PYTHONPATH=. .venv/bin/python scripts/bench_reminders.py
