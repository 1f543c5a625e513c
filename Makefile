# vgen: `make demo` sets everything up and renders the bundled demo; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml tests/tus/package-lock.json | sha1sum | cut -c1-12)
WHEEL_FFMPEG = $$($(BIN)/python -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())")

.PHONY: setup system-deps demo lint test test-fast test-system test-ffmpeg9 bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml tests/tus/package-lock.json
	@$(MAKE) --no-print-directory system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/tus --no-audit --no-fund --silent; \
	else echo "npm not found: the upload tests need Node.js 20+ and npm (apt-get install nodejs npm)"; fi
	@rm -f $(VENV)/.installed-*
	@touch $@

# Debian's FFmpeg 5.1 and fonts, when we may install them; without them vgen uses the FFmpeg
# of the imageio-ffmpeg wheel, so this step is a convenience, never a requirement.
system-deps:
	@if command -v ffmpeg >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg fonts-dejavu-core fontconfig >/dev/null) \
	  || echo "apt-get failed: vgen will use the FFmpeg of the imageio-ffmpeg wheel"; \
	else echo "no system ffmpeg: vgen will use the FFmpeg of the imageio-ffmpeg wheel"; fi

demo: setup
	$(BIN)/python -m vgen.tools.samples configs/media
	$(BIN)/vgen render configs/demo.yaml
	$(BIN)/vgen render configs/narrated.yaml

# Lint, format and types first; then the suite twice: with the FFmpeg on PATH (Debian's 5.1) and
# with the wheel's FFmpeg 9.
test: setup
	@$(MAKE) --no-print-directory lint test-system test-ffmpeg9

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The inner loop: everything but the renders and worker runs (marked slow), one FFmpeg.
test-fast: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q -m "not slow"

test-system: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

test-ffmpeg9: setup
	VGEN_FFMPEG=$(WHEEL_FFMPEG) $(BIN)/python -m pytest -n 2 --dist loadgroup -q

# Composition speed (vs encode alone, also with a core to spare; the zoompan and perspective recipes,
# MoviePy), memory against length, resume/edit ratios: about an hour on 2 cores. Results in
# bench/results.json.
bench: setup
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf out configs/media .pytest_cache
