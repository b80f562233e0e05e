# 干部在线学习中心 — the two commands: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
FLASK := FLASK_APP=wsgi.py $(VENV)/bin/flask
PORT ?= 5000
STAMP := $(VENV)/.installed

.PHONY: run test setup system-deps translations messages db serve worker bench prod-check clean

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

# Refresh the English catalogue from the code. Labels kept in dicts (roles, ranks, audit actions,
# error titles) are translated through a variable, so extraction marks them obsolete: they are put
# back as active entries, and a new label is added. New entries come out empty for a translator;
# tests/test_translations.py fails until none is.
messages: $(STAMP)
	@$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 -o instance/messages.pot . >/dev/null 2>&1
	@$(VENV)/bin/pybabel update -i instance/messages.pot -d app/translations -l en --no-fuzzy-matching >/dev/null 2>&1
	@$(PY) -c "from babel.messages.pofile import read_po, write_po; p='app/translations/en/LC_MESSAGES/messages.po'; \
	c = read_po(open(p, 'rb')); [c.add(m.id, m.string, context=m.context) for m in list(c.obsolete.values())]; \
	c.obsolete.clear(); from app.audit.views import ACTIONS; from app.errors import _TITLES; \
	[c.add(label, '') for label in sorted({*ACTIONS.values(), *_TITLES.values()}) if label not in c]; \
	write_po(open(p, 'wb'), c); \
	print(sum(1 for m in c if m.id and not m.string), 'entries to translate in', p)"
	@$(VENV)/bin/pybabel compile -d app/translations >/dev/null 2>&1

db: setup
	@$(FLASK) db upgrade

serve:
	$(FLASK) run --port $(PORT)

worker:
	$(FLASK) worker

bench: setup
	@$(PY) bench/run.py

# The production stack on loopback (PostgreSQL, Redis, gunicorn, flask worker, nginx; nginx is
# installed when missing) and a smoke journey through it: deploy/prod_check.py, docs/deploy.md.
prod-check: setup
	@$(PY) deploy/prod_check.py

clean:
	rm -rf $(VENV) instance .pytest_cache
