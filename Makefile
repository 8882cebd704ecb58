# Convenience aliases; the README's set-up commands are `python3 dev.py demo` and
# `python3 dev.py test`, which need nothing but Python >= 3.11.
PYTHON ?= python3

.PHONY: install demo test clean

install:
	$(PYTHON) dev.py install

demo:
	$(PYTHON) dev.py demo

test:
	$(PYTHON) dev.py test

clean:
	rm -rf .venv runs .pytest_cache
