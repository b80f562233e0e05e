# 干部在线学习中心 — the two commands: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
FLASK := FLASK_APP=wsgi.py $(VENV)/bin/flask
PORT ?= 5000
STAMP := $(VENV)/.installed

.PHONY: run test setup system-deps translations db serve worker bench clean

run: setup db
	@$(FLASK) demo --if-empty
	@echo "importing the course packages in courses/ (the first run generates the sample videos with ffmpeg: a few minutes)"
	@$(FLASK) courses import courses/
	@$(FLASK) demo-exams --if-empty
	@echo "Serving on http://127.0.0.1:$(PORT)  (background jobs: worker started alongside)"
	@trap 'kill 0' EXIT INT TERM; \
	  $(FLASK) worker & \
	  $(VENV)/bin/gunicorn --bind 127.0.0.1:$(PORT) --workers 2 --threads 4 --access-logfile - 'wsgi:app'

test: setup
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

setup: system-deps $(STAMP) translations

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# ffmpeg for the video pipeline, Chromium and CJK fonts for the browser tests and screenshots.
system-deps:
	@missing=""; \
	command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing="$$missing ffmpeg"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi 'Noto Sans CJK' || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

translations: $(STAMP)
	@$(VENV)/bin/pybabel compile -d app/translations >/dev/null

db: setup
	@$(FLASK) db upgrade

serve:
	$(FLASK) run --port $(PORT)

worker:
	$(FLASK) worker

bench: setup
	@$(PY) bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache
