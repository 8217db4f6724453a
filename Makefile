# Slipway: the two commands are `make demo` (ARGS=--keep to leave the sandbox up) and `make test`.
.PHONY: setup venv lint test unit integration demo

setup:
	scripts/setup

venv:
	scripts/bootstrap-venv

lint: venv
	scripts/lint

test:
	scripts/test

unit: venv
	.venv/bin/python -m pytest tests/unit

integration: venv
	.venv/bin/python -m pytest tests/integration

demo:
	scripts/demo $(ARGS)
